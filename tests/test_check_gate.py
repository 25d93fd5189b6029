"""The regression gate compares like with like (issue 20, item 1): against a baseline it compares on the
queries both record sets share and says so, refuses other corpus or qrels unless --allow-other-data, prints a
CI whose sign matches the difference, and fails when a baseline variant is missing from the fresh run.
Tiny hand-written datasets and external runs (`trec-run`): no JVM, no model, seconds per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rqbench.check import check_baseline, exit_code
from rqbench.errors import RqbenchError
from rqbench.records import SCHEMA, append_record, read_records, write_per_query
from rqbench.suite import CheckSpec

QIDS = ["q1", "q2", "q3", "q4", "q5", "q6"]


def write_data(folder: Path, qids: list[str]) -> Path:
    """A tsv-layout dataset: query qN judges document dN relevant; documents d1..d6 and x1..x6 exist."""
    folder.mkdir(parents=True)
    docs = [f"d{i}\tpassage {i} about topic {i}" for i in range(1, 7)] + [f"x{i}\tfiller {i}" for i in range(1, 7)]
    (folder / "collection.tsv").write_text("\n".join(docs) + "\n")
    (folder / "queries.tsv").write_text("".join(f"{q}\ttopic {q[1:]}\n" for q in qids))
    (folder / "qrels.txt").write_text("".join(f"{q} 0 d{q[1:]} 1\n" for q in qids))
    return folder


def write_run(path: Path, ranks: dict[str, int]) -> Path:
    """A run putting each query's relevant document at the given rank (0: not retrieved) among fillers."""
    lines = []
    for q, rank in ranks.items():
        docs = [f"x{i}" for i in range(1, 6)]
        if rank:
            docs.insert(rank - 1, f"d{q[1:]}")
        lines += [f"{q} Q0 {d} {i + 1} {10.0 - i} run\n" for i, d in enumerate(docs)]
    path.write_text("".join(lines))
    return path


def write_suite(path: Path, data: Path, runs: dict[str, Path]) -> Path:
    variants = "".join(f'[[variants]]\nname = "{name}"\nbackend = "trec-run"\nparams = {{ path = "{run}" }}\n'
                       for name, run in runs.items())
    path.write_text(f'[suite]\nname = "gate"\ndataset = "{data}"\nmeasures = ["RR@10"]\n{variants}')
    return path


def rq(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder (read only by the tests) with the data `full/dl19`, the runs bm25.trec and rm3.trec, and
    baseline records of bm25 and rm3 on its six queries in base/gate/records.jsonl; rm3 finds q1 and q2 at
    rank 1 and misses the rest."""
    root = tmp_path_factory.mktemp("gate")
    data = write_data(root / "full" / "dl19", QIDS)
    rm3 = write_run(root / "rm3.trec", {"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 0, "q6": 0})
    bm25 = write_run(root / "bm25.trec", dict.fromkeys(QIDS, 2))
    suite = write_suite(root / "base.toml", data, {"bm25": bm25, "rm3": rm3})
    done = rq(root, "run", str(suite), "--results", "base")
    assert done.returncode == 0, done.stderr
    return root


def test_other_qrels_are_refused_and_allowed_only_on_the_shared_queries(tmp_path: Path, shared: Path) -> None:
    """The issue's case: the suite re-pointed at a 2-query copy (same evaluation-set name) with a worse rm3
    (rank 2 where the baseline had rank 1). Its mean over the easy copy (0.5) beats the baseline's over six
    queries (0.333): the old gate printed IMPROVED with a negative CI, and PASS."""
    baseline = shared / "base" / "gate" / "records.jsonl"
    small = write_data(tmp_path / "small" / "dl19", ["q1", "q2"])
    worse = write_run(tmp_path / "worse.trec", {"q1": 2, "q2": 2})
    suite = write_suite(tmp_path / "s.toml", small, {"bm25": shared / "bm25.trec", "rm3": worse})

    refused = rq(tmp_path, "check", str(suite), "--baseline", str(baseline))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr
    assert lines[0].startswith(f"rqbench: error: {baseline}: the baseline's qrels differ")
    assert "--allow-other-data" in lines[0]

    allowed = rq(tmp_path, "check", str(suite), "--baseline", str(baseline), "--allow-other-data", "--json")
    assert allowed.returncode == 1, allowed.stdout + allowed.stderr
    out = json.loads(allowed.stdout[allowed.stdout.index("{"):])
    rows = {r["variant"]: r for r in out["rows"]}
    assert rows["bm25"]["status"] == "OK" and rows["bm25"]["queries"] == [2, 2, 6]
    row = rows["rm3"]
    assert row["status"] == "REGRESSED" and row["queries"] == [2, 2, 6]
    assert row["expected"] == pytest.approx(1.0) and row["actual"] == pytest.approx(0.5)
    assert row["diff"] < 0 and row["ci"][1] < 0  # the CI's sign is the difference's
    assert any("qrels differ" in n for n in out["notes"])
    table = " ".join(allowed.stderr.split())  # with --json the table and its notes go to stderr
    assert "rm3: compared on the 2 queries both share (this run has 2, the baseline 6)" in table
    assert "FAIL" in table


def test_a_baseline_variant_missing_from_the_fresh_run_fails(tmp_path: Path, shared: Path) -> None:
    """Renaming rm3 no longer drops it from the check, with a fresh run or with --no-run on results where the
    old rm3 records still lie in records.jsonl but are no variant of the suite any more."""
    baseline = shared / "base" / "gate" / "records.jsonl"
    (tmp_path / "results" / "gate").mkdir(parents=True)
    (tmp_path / "results" / "gate" / "records.jsonl").write_text(baseline.read_text())  # the old rm3 records
    suite = write_suite(tmp_path / "s.toml", shared / "full" / "dl19",
                        {"bm25": shared / "bm25.trec", "rm3-renamed": shared / "rm3.trec"})
    for extra in ([], ["--no-run"]):
        renamed = rq(tmp_path, "check", str(suite), "--baseline", str(baseline), *extra)
        assert renamed.returncode == 1, renamed.stdout + renamed.stderr
        row = next(line for line in renamed.stdout.splitlines() if "rm3 " in line and "RR@10" in line)
        assert "MISSING" in row
        assert "FAIL" in renamed.stdout


def test_allow_other_data_needs_a_baseline(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "s.toml", tmp_path / "dl19", {"bm25": tmp_path / "bm25.trec"})
    done = rq(tmp_path, "check", str(suite), "--allow-other-data", "--no-run")
    assert done.returncode == 2
    assert done.stderr.strip() == "rqbench: error: --allow-other-data applies to --baseline RECORDS only"


def records_of(root: Path, values: dict[str, dict[str, float]], fingerprints: dict[str, str] | None = None,
               n_queries: int | None = None) -> list[dict]:
    for variant, per_q in values.items():
        sidecar = write_per_query(root, "s", variant, "h" * 64, {"RR@10": per_q})
        append_record(root, {"schema": SCHEMA, "suite": "s", "variant": variant, "per_query_file": sidecar,
                             "metrics": {"RR@10": float(np.mean(list(per_q.values())))},
                             "dataset": {"fingerprints": fingerprints or {}},
                             "n_queries": n_queries or len(per_q)})
    return read_records(root / "s" / "records.jsonl")


def test_the_difference_and_its_ci_are_over_the_same_queries(tmp_path: Path) -> None:
    old = records_of(tmp_path / "old", {"a": {"q1": 1.0, "q2": 1.0, "q3": 0.0, "q4": 0.0}})
    new = records_of(tmp_path / "new", {"a": {"q1": 0.6, "q2": 0.5}})
    (row,) = check_baseline(CheckSpec(n_resamples=200), new, old, ["RR@10"])
    assert row.queries == (2, 2, 4) and row.on_shared_queries
    assert row.expected == pytest.approx(1.0) and row.actual == pytest.approx(0.55)
    assert row.diff < 0 and row.ci[0] <= row.diff <= row.ci[1] < 0
    assert row.status == "REGRESSED" and exit_code([row]) == 1


def test_other_corpus_is_refused_unless_allowed(tmp_path: Path) -> None:
    values = {"a": {"q1": 1.0, "q2": 0.5}}
    old = records_of(tmp_path / "old", values, {"corpus": "c" * 64, "qrels": "r" * 64})
    new = records_of(tmp_path / "new", values, {"corpus": "e" * 64, "qrels": "r" * 64})
    with pytest.raises(RqbenchError, match=r"the baseline's corpus differ from this run's \(fingerprint cccccc"):
        check_baseline(CheckSpec(n_resamples=200), new, old, ["RR@10"])
    notes: list[str] = []
    rows = check_baseline(CheckSpec(n_resamples=200), new, old, ["RR@10"], allow_other_data=True, notes=notes)
    assert [r.status for r in rows] == ["OK"] and len(notes) == 1 and "corpus" in notes[0]


def test_without_per_query_values_other_query_counts_are_refused(tmp_path: Path) -> None:
    old = records_of(tmp_path / "old", {"a": {"q1": 1.0, "q2": 0.0}}, n_queries=43)
    new = records_of(tmp_path / "new", {"a": {"q1": 0.9, "q2": 0.1}}, n_queries=5)
    for sidecar in (tmp_path / "old" / "s" / "perquery").iterdir():
        sidecar.unlink()
    with pytest.raises(RqbenchError, match="evaluated on 43 queries in the baseline and 5 here"):
        check_baseline(CheckSpec(), new, old, ["RR@10"])
