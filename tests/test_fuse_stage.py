"""A `[variants.fuse]` variant in a suite: a `fuse` stage over the members' runs (the same run as
`rqbench.fusion.fuse_runs` on their run files), the calibrated method fitted on a held-apart split only,
one fused run per seed of seeded arms, and one-line errors for every misuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shuffled_top30
from rich.console import Console

from rqbench.artifacts import ArtifactStore
from rqbench.errors import RqbenchError
from rqbench.fusion import cut_runs, fuse_runs
from rqbench.plan import plan_suite
from rqbench.runner import run_suite
from rqbench.suite import load_suite
from rqbench.types import read_trec_run

HEAD = """
[suite]
name = "fz"
dataset = "msmarco-dl19-mini"
split = "rest"
measures = ["nDCG@10", "R@100"]

[[splits]]
name = "fit"
from = "test"
sample = 5
seed = 0

[[splits]]
name = "rest"
from = "test"
exclude = ["fit"]

[[variants]]
name = "bm25"
backend = "trec-run"
params = { path = "{suite_dir}/other.trec" }

[[variants]]
name = "top50"
backend = "trec-run"
params = { path = "{data_root}/msmarco-dl19-mini/bm25.top50.trec" }
"""


def write(tmp_path: Path, extra: str, data_root: Path) -> Path:
    """The suite, and a second run to fuse with BM25's top 50 (`shuffled_top30`: no JVM needed)."""
    shuffled_top30(data_root, tmp_path / "other.trec")
    path = tmp_path / "fz.toml"
    path.write_text(HEAD + extra, encoding="utf-8")
    return path


def run(path: Path, tmp_path: Path, data_root: Path) -> dict[str, dict]:
    records = run_suite(load_suite(path), store=ArtifactStore(tmp_path / "store"), results_root=tmp_path / "results",
                        data_root=data_root, console=Console(file=open("/dev/null", "w")))  # noqa: SIM115
    return {r["variant"]: r for r in records}


def test_fused_runs_equal_the_library_on_the_member_runs_and_calibration_is_fitted_apart(
        tmp_path: Path, data_root: Path) -> None:
    path = write(tmp_path, data_root=data_root, extra="""
[[variants]]
name = "rrf"
backend = "fusion"
fuse = { runs = ["bm25", "top50"] }

[[variants]]
name = "mix"
backend = "fusion"
params = { method = "interpolate", weights = [0.3, 0.7], normalisation = "zscore" }
fuse = { runs = ["top50", "bm25"], depth = 30 }

[[variants]]
name = "cal"
backend = "fusion"
params = { method = "calibrated", fit_split = "fit", normalisation = "zscore" }
fuse = { runs = ["bm25", "top50"] }
""")
    records = run(path, tmp_path, data_root)
    runs_dir = tmp_path / "results" / "fz" / "runs"
    bm25, top50 = read_trec_run(runs_dir / "bm25.trec"), read_trec_run(runs_dir / "top50.trec")

    def scores(run: dict) -> dict:
        return {q: [(h.docid, round(h.score, 4)) for h in hits] for q, hits in run.items()}

    assert scores(read_trec_run(runs_dir / "rrf.trec")) == scores(fuse_runs([bm25, top50], "rrf", depth=1000))
    assert scores(read_trec_run(runs_dir / "mix.trec")) == scores(
        fuse_runs(cut_runs([top50, bm25], 30), "interpolate", weights=[0.3, 0.7], normalisation="zscore"))
    assert [s["role"] for s in records["rrf"]["stages"]][-2:] == ["fuse", "evaluate"]

    cal_hash = records["cal"]["artifact_hashes"]["fuse"]
    calibration = json.loads((tmp_path / "store" / "fuse" / cal_hash[:2] / cal_hash / "calibration.json").read_text())
    plan = plan_suite(load_suite(path), data_root)
    dataset = next(iter(plan.datasets.values()))
    fit, rest = set(dataset.split_qrels("fit")), set(dataset.split_qrels("rest"))
    assert not fit & rest and calibration["fit_split"] == "fit" and calibration["split"] == "rest"
    assert calibration["model"]["fitted_queries"] == len(fit) == calibration["fitted"]["queries"]
    assert calibration["held_out"]["queries"] == len(rest)
    assert 0.0 <= calibration["held_out"]["ece"] <= 1.0
    cal_run = read_trec_run(runs_dir / "cal.trec")
    assert set(cal_run) == rest  # evaluated on the held-apart queries only
    assert all(0.0 < h.score < 1.0 for hits in cal_run.values() for h in hits)  # probabilities


def test_a_fusion_of_seeded_arms_is_one_fused_run_per_seed(tmp_path: Path, data_root: Path) -> None:
    path = tmp_path / "seeded.toml"
    path.write_text("""
[suite]
name = "seeded"
dataset = "msmarco-dl19-mini"
seeds = [13, 14]

[[variants]]
name = "bm25"
backend = "bm25"

[[variants]]
name = "de"
backend = "dense"
train = { split = "test", batch_size = 4, epochs = 1 }

[[variants]]
name = "hybrid"
backend = "fusion"
fuse = { runs = ["bm25", "de"] }
""", encoding="utf-8")
    suite = load_suite(path)
    assert [v.name for v in suite.variants] == ["bm25", "de[seed=13]", "de[seed=14]", "hybrid[seed=13]",
                                                "hybrid[seed=14]"]
    plan = plan_suite(suite, data_root)
    for seed in (13, 14):
        fused = next(p for p in plan.evaluations if p.variant.name == f"hybrid[seed={seed}]").run
        member = next(p for p in plan.evaluations if p.variant.name == f"de[seed={seed}]").run
        assert fused.kind.name == "fuse" and fused.inputs["run1"].node is member
        assert fused.runtime["names"] == ["bm25", f"de[seed={seed}]"]


@pytest.mark.parametrize(("extra", "needle"), [
    ('name = "f"\nbackend = "fusion"\nfuse = { runs = ["bm25"] }', "fuse.runs names one run: method 'rrf' needs 2"),
    ('name = "f"\nbackend = "fusion"\nfuse = { runs = ["bm25", "bm25"] }', "fuse.runs must name 1 to 8 different"),
    ('name = "f"\nbackend = "fusion"\nfuse = { runs = ["bm25", "bm52"] }',
     "fuse.runs names unknown variant 'bm52' (did you mean 'bm25'?)"),
    ('name = "f"\nbackend = "fusion"', "cannot retrieve, so it has no run (give it [variants.fuse] runs"),
    ('name = "f"\nbackend = "trec-run"\nparams = { path = "{suite_dir}/other.trec" }\n'
     'fuse = { runs = ["bm25", "top50"] }', "backend 'trec-run' cannot fuse runs"),
    ('name = "f"\nbackend = "fusion"\nparams = { method = "interpolate", weights = [1.0] }\n'
     'fuse = { runs = ["bm25", "top50"] }', "params.weights has 1 weights for the 2 runs"),
    ('name = "f"\nbackend = "fusion"\nparams = { method = "calibrated" }\nfuse = { runs = ["bm25", "top50"] }',
     "'calibrated' needs fit_split"),
    ('name = "f"\nbackend = "fusion"\nparams = { method = "calibrated", fit_split = "rest" }\n'
     'fuse = { runs = ["bm25", "top50"] }', "is the split this fusion is evaluated on"),
    ('name = "f"\nbackend = "fusion"\nparams = { method = "rrff" }\nfuse = { runs = ["bm25", "top50"] }',
     "unknown fusion method 'rrff' (did you mean 'rrf'?)"),
    ('name = "f"\nbackend = "fusion"\nfuse = { runs = ["bm25", "top50"], deep = 3 }', "unknown fuse key 'deep'"),
    ('name = "f"\nbackend = "fusion"\nfuse = { runs = ["bm25", "f"] }', "variants fuse each other in a cycle"),
])
def test_fusion_misuse_is_one_line_with_the_suite_file(tmp_path: Path, data_root: Path, extra: str,
                                                        needle: str) -> None:
    path = write(tmp_path, "\n[[variants]]\n" + extra + "\n", data_root)
    with pytest.raises(RqbenchError) as caught:
        plan_suite(load_suite(path), data_root)
    message = caught.value.one_line()
    assert needle in message and "\n" not in message and str(path) in message
