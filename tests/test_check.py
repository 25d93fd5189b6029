"""The CI gate's decisions: tolerance, noise (paired CI) and two-sided reproduction checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rqbench.check import check_baseline, check_expected, exit_code
from rqbench.errors import RqbenchError
from rqbench.records import SCHEMA, append_record, read_records, write_per_query
from rqbench.suite import CheckSpec


def make_records(root: Path, suite: str, values: dict[str, np.ndarray]) -> list[dict]:
    for variant, per_q in values.items():
        per_query = {"RR@10": {f"q{i}": float(v) for i, v in enumerate(per_q)}}
        sidecar = write_per_query(root, suite, variant, "h" * 64, per_query)
        append_record(root, {"schema": SCHEMA, "suite": suite, "variant": variant,
                             "metrics": {"RR@10": float(np.mean(per_q))}, "per_query_file": sidecar})
    return read_records(root / suite / "records.jsonl")


def test_expected_values_tolerance() -> None:
    records = [{"variant": "bm25", "metrics": {"nDCG@10": 0.6780}, "schema": SCHEMA}]
    spec = CheckSpec(tolerance=0.002, expected={"bm25": {"nDCG@10": 0.6789}})
    assert exit_code(check_expected(spec, records)) == 0
    strict = CheckSpec(tolerance=0.0005, expected={"bm25": {"nDCG@10": 0.6789}})
    rows = check_expected(strict, records)
    assert [r.status for r in rows] == ["REGRESSED"] and exit_code(rows) == 1
    better = [{"variant": "bm25", "metrics": {"nDCG@10": 0.70}, "schema": SCHEMA}]
    assert check_expected(strict, better)[0].status == "IMPROVED"
    two_sided = CheckSpec(tolerance=0.0005, two_sided=True, expected={"bm25": {"nDCG@10": 0.6789}})
    assert exit_code(check_expected(two_sided, better)) == 1
    missing = CheckSpec(expected={"bm25": {"AP": 0.3}})
    assert check_expected(missing, records)[0].status == "MISSING"
    with pytest.raises(RqbenchError):
        check_expected(CheckSpec(), records)


def test_baseline_noise_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 300)
    old = make_records(tmp_path / "old", "s", {"a": base, "b": base})
    # a: a real drop on every query; b: a small mean drop that is pure noise (half up, half down)
    noise = np.where(np.arange(300) % 2 == 0, 0.08, -0.1)
    new = make_records(tmp_path / "new", "s", {"a": base - 0.05, "b": np.clip(base + noise, 0, 1)})
    spec = CheckSpec(tolerance=0.001, n_resamples=2000)
    rows = {r.variant: r for r in check_baseline(spec, new, old, ["RR@10"])}
    assert rows["a"].status == "REGRESSED" and rows["a"].ci[1] < 0
    assert rows["b"].diff < -0.001 and rows["b"].ci[0] < 0 < rows["b"].ci[1]
    assert rows["b"].status == "OK"
    assert exit_code(list(rows.values())) == 1


def test_check_against_a_baseline_records_file_after_a_fresh_run(tmp_path: Path, data_root: Path) -> None:
    """The CI mode the README shows: `rqbench check SUITE --baseline records.jsonl` runs the suite, then
    compares per query (no JVM needed: external runs)."""
    import os
    import subprocess
    import sys

    suite = tmp_path / "s.toml"
    suite.write_text(f'[suite]\nname = "gate"\ndataset = "{data_root / "msmarco-dl19-mini"}"\n'
                     'measures = ["RR@10", "nDCG@10"]\n[[variants]]\nname = "top50"\nbackend = "trec-run"\n'
                     f'params = {{ path = "{data_root / "msmarco-dl19-mini" / "bm25.top50.trec"}" }}\n')
    env = {**os.environ, "COLUMNS": "120"}

    def rq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=300)

    assert rq("run", str(suite)).returncode == 0
    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text((tmp_path / "results" / "gate" / "records.jsonl").read_text())
    (tmp_path / "perquery").mkdir()
    for sidecar in (tmp_path / "results" / "gate" / "perquery").iterdir():
        (tmp_path / "perquery" / sidecar.name).write_bytes(sidecar.read_bytes())
    out = rq("check", str(suite), "--baseline", str(baseline))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout and "Traceback" not in out.stderr


def make_seed_records(root: Path, suite: str, arms: dict[str, dict[int, np.ndarray]]) -> list[dict]:
    for arm, by_seed in arms.items():
        for seed, per_q in by_seed.items():
            variant = f"{arm}[seed={seed}]"
            per_query = {"RR@10": {f"q{i}": float(v) for i, v in enumerate(per_q)}}
            sidecar = write_per_query(root, suite, variant, "h" * 64, per_query)
            append_record(root, {"schema": SCHEMA, "suite": suite, "variant": variant, "arm": arm, "seed": seed,
                                 "metrics": {"RR@10": float(np.mean(per_q))}, "per_query_file": sidecar})
    return read_records(root / suite / "records.jsonl")


def test_a_seeded_arm_is_checked_by_its_mean_over_seeds(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.8, 200)
    # seed 13 is unlucky (-0.1 on every query), seed 14 lucky (+0.1): the arm's mean is the baseline's
    old = make_seed_records(tmp_path / "old", "s", {"md0": {13: base, 14: base}})
    new = make_seed_records(tmp_path / "new", "s", {"md0": {13: base - 0.1, 14: base + 0.1}})
    spec = CheckSpec(tolerance=0.001, n_resamples=1000)
    rows = {r.variant: r for r in check_baseline(spec, new, old, ["RR@10"])}
    assert list(rows) == ["md0"]  # the seeds only through their arm
    assert rows["md0"].status == "OK" and abs(rows["md0"].diff) < 1e-9 and exit_code(list(rows.values())) == 0
    # a real drop of the arm: every seed lower
    worse = make_seed_records(tmp_path / "worse", "s", {"md0": {13: base - 0.05, 14: base - 0.03}})
    arm = next(r for r in check_baseline(spec, worse, old, ["RR@10"]) if r.variant == "md0")
    assert arm.status == "REGRESSED" and arm.diff == pytest.approx(-0.04) and arm.ci[1] < 0
    # expected values name the arm: its mean over seeds
    expected = CheckSpec(tolerance=0.005, expected={"md0": {"RR@10": float(np.mean(base))}})
    assert [r.status for r in check_expected(expected, new)] == ["OK"]
    assert [r.status for r in check_expected(expected, worse)] == ["REGRESSED"]
    one_seed = CheckSpec(tolerance=0.005, expected={"md0[seed=13]": {"RR@10": float(np.mean(base))}})
    assert [r.status for r in check_expected(one_seed, new)] == ["REGRESSED"]
    # other seeds in the baseline: a bad-input error, not a comparison of different things
    other = make_seed_records(tmp_path / "other", "s", {"md0": {13: base, 15: base}})
    with pytest.raises(RqbenchError, match=r"arm 'md0' ran with seeds \['13', '14'\] here and \['13', '15'\]"):
        check_baseline(spec, new, other, ["RR@10"])
    # a baseline copied without its per-query files: the arm is compared by the tolerance alone
    for sidecar in (tmp_path / "old" / "s" / "perquery").iterdir():
        sidecar.unlink()
    bare = read_records(tmp_path / "old" / "s" / "records.jsonl")
    rows = check_baseline(spec, worse, bare, ["RR@10"])
    assert [(r.variant, r.status, r.ci) for r in rows] == [("md0", "REGRESSED", None)]


def test_check_expected_may_name_an_arm_in_the_suite(tmp_path: Path) -> None:
    from rqbench.suite import load_suite

    path = tmp_path / "s.toml"
    path.write_text('[suite]\nname = "s"\ndataset = "scifact"\nseeds = [1, 2]\n[[variants]]\nname = "bm25"\n'
                    'backend = "bm25"\n[[variants]]\nname = "md0"\nbackend = "dense"\ntrain = { epochs = 1 }\n'
                    '[check.expected.md0]\n"nDCG@10" = 0.5\n')
    assert load_suite(path).check.expected == {"md0": {"nDCG@10": 0.5}}
