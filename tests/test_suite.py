"""Suite schema, grid expansion and config hashing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rqbench.artifacts import stable_hash
from rqbench.errors import RqbenchError
from rqbench.suite import expand_grid, load_suite

BASE = """
[suite]
name = "t"
dataset = "scifact"
measures = ["RR@10"]
baseline = "a"

[[variants]]
name = "a"
backend = "bm25"
params = { k1 = 0.9 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repo_suites_parse(repo_root: Path) -> None:
    names = set()
    for path in sorted((repo_root / "suites").glob("*.toml")):
        suite = load_suite(path)
        assert suite.variants and (suite.baseline in suite.variant_names() or suite.baseline in suite.arms())
        names.add(suite.name)
    assert {"smoke", "scifact-bm25", "ci"} <= names


def test_repo_suites_plan_against_the_shared_data(repo_root: Path, data_root: Path) -> None:
    """Every shipped suite's stage graph resolves (references, splits, datasets, parameters), so a change to
    the planner cannot silently break a reference suite that takes hours to run. A suite of ir_datasets data
    (rocketqa-official, msmarco-full) plans as `rqbench plan` does here: with its datasets pending."""
    from rqbench.plan import plan_suite

    for path in sorted((repo_root / "suites").glob("*.toml")):
        suite = load_suite(path)
        plan = plan_suite(suite, data_root, pending_data=True)
        planned = {(p.variant.name, p.evaluation.name) for p in plan.evaluations}
        for variant in suite.variants:
            wanted = variant.evaluate_on or tuple(ev.name for ev in suite.evaluations)
            assert {(variant.name, ev) for ev in wanted} <= planned, (path.name, variant.name)


def test_grid_expands_cartesian_product(tmp_path: Path) -> None:
    text = BASE + """
[[variants]]
name = "g"
backend = "bm25"
params = { k1 = 0.9 }
grid = { b = [0.3, 0.4], rm3 = [false, true] }
"""
    suite = load_suite(write(tmp_path, text))
    assert suite.variant_names() == ["a", "g[b=0.3,rm3=false]", "g[b=0.3,rm3=true]", "g[b=0.4,rm3=false]",
                                     "g[b=0.4,rm3=true]"]
    assert suite.variant("g[b=0.4,rm3=true]").params == {"k1": 0.9, "b": 0.4, "rm3": True}
    assert expand_grid({}) == [{}]
    assert len(expand_grid({"x": [1, 2, 3], "y": [1, 2]})) == 6


def test_hash_is_canonical() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 1.5})
    assert len(stable_hash({})) == 64


@pytest.mark.parametrize(
    ("edit", "line", "needle"),
    [
        (lambda t: t.replace('baseline = "a"', 'baseline = "a"\nmeasurs = ["x"]'), 7, "did you mean 'measures'"),
        (lambda t: t.replace('backend = "bm25"', 'backend = "bm52"'), 10, "backend 'bm52' (did you mean 'bm25'?)"),
        (lambda t: t.replace('params = { k1 = 0.9 }', 'parms = { k1 = 0.9 }'), 11, "did you mean 'params'"),
        (lambda t: t.replace('baseline = "a"', 'baseline = "b"'), 6, "baseline 'b' is not a variant"),
        (lambda t: t.replace('measures = ["RR@10"]', 'measures = "RR@10"'), 5, "'measures' must be list"),
        (lambda t: t.replace('name = "t"', 'name = "t'), 3, "invalid TOML"),
    ],
)
def test_schema_errors_name_file_and_line(tmp_path: Path, edit, line: int, needle: str) -> None:
    path = write(tmp_path, edit(BASE))
    with pytest.raises(RqbenchError) as info:
        load_suite(path)
    message = info.value.one_line()
    assert message.startswith(f"{path}:{line}: "), message
    assert needle in message
    assert "\n" not in message


def test_missing_suite_file(tmp_path: Path) -> None:
    with pytest.raises(RqbenchError, match="suite file not found"):
        load_suite(tmp_path / "nope.toml")


def test_check_section_validated(tmp_path: Path) -> None:
    text = BASE + '\n[check]\ntolerance = 0.01\n[check.expected.zz]\n"RR@10" = 0.5\n'
    with pytest.raises(RqbenchError, match="unknown variant 'zz'"):
        load_suite(write(tmp_path, text))
    ok = load_suite(write(tmp_path, BASE + '\n[check]\ntolerance = 0.01\n[check.expected.a]\n"RR@10" = 0.5\n'))
    assert ok.check.expected == {"a": {"RR@10": 0.5}} and ok.check.tolerance == 0.01
