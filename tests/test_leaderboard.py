"""The leaderboard: systems identified by name and evaluated run, one cell per (dataset, split), conflicts
between suites kept as separate rows and listed, never silently overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.leaderboard import Leaderboard, build_leaderboard
from rqbench.records import SCHEMA


def _record(variant: str, dataset: str, split: str, ndcg: float, *, run: str | None = None,
            name: str | None = None, retrieve: str | None = None, created: int = 1) -> dict:
    """A minimal schema-1 record; `run` None writes an older record without "system"."""
    record = {
        "schema": SCHEMA, "record_id": f"{created:032x}", "created": f"2025-02-{created:02d}T00:00:00+00:00",
        "suite": "?", "variant": variant, "dataset": {"name": dataset, "split": split},
        "metrics": {"nDCG@10": ndcg, "RR@10": ndcg / 2},
        "artifact_hashes": {"index": "i" * 64, **({"retrieve": retrieve} if retrieve else {})},
    }
    if run is not None:
        record["system"] = {"name": name or variant, "run": run}
    return record


def _write(root: Path, suite: str, records: list[dict]) -> None:
    path = root / suite / "records.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({**r, "suite": suite}, sort_keys=True) + "\n")


def _rows(board: Leaderboard) -> dict[str, dict[str, float]]:
    return {system: values for system, values, _ in board.rows}


def test_one_row_per_system_and_a_cell_per_evaluation_set(tmp_path: Path) -> None:
    _write(tmp_path, "sci", [_record("bm25", "scifact", "test", 0.67, run="r-bm25-sci", created=1),
                             _record("dense", "scifact", "test", 0.64, run="r-dense-sci", created=1),
                             # the suite evaluates on two sets: one record per (variant, set)
                             _record("bm25", "dl19", "dl19", 0.46, run="r-bm25-dl19", created=2),
                             _record("dense", "dl19", "dl19", 0.63, run="r-dense-dl19", created=2)])
    # the same system under another variant name, on a third set
    _write(tmp_path, "vas", [_record("baseline", "vaswani", "test", 0.44, run="r-bm25-vas", name="bm25")])
    board = build_leaderboard(tmp_path, "nDCG@10")
    assert board.datasets == ["scifact (test)", "dl19 (dl19)", "vaswani (test)"]
    assert board.conflicts == []
    assert _rows(board) == {"bm25": {"scifact (test)": 0.67, "dl19 (dl19)": 0.46, "vaswani (test)": 0.44},
                            "dense": {"scifact (test)": 0.64, "dl19 (dl19)": 0.63}}
    assert board.rows[0] == ("bm25", _rows(board)["bm25"], pytest.approx((0.67 + 0.46 + 0.44) / 3))
    assert board.rows[1][2] is None  # no mean without every column
    md = board.to_markdown()
    assert md.splitlines()[0] == "| system | scifact (test) | dl19 (dl19) | vaswani (test) | mean |"
    assert "| dense | 0.6400 | 0.6300 | – | – |" in md and "Conflicts" not in md


def test_same_run_in_two_suites_is_one_system(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("bm25", "scifact", "test", 0.6789, run="same-run")])
    _write(tmp_path, "b", [_record("bm25", "scifact", "test", 0.6789, run="same-run"),
                           _record("bm25", "nq", "dev", 0.30, run="other-run")])
    board = build_leaderboard(tmp_path, "nDCG@10")
    assert board.conflicts == []
    assert _rows(board) == {"bm25": {"scifact (test)": 0.6789, "nq (dev)": 0.30}}


def test_different_runs_under_one_name_are_a_conflict(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("de", "scifact", "test", 0.62, run="a" * 64),
                           _record("de", "vaswani", "test", 0.40, run="c" * 64),
                           _record("bm25", "scifact", "test", 0.67, run="bm25-run")])
    _write(tmp_path, "b", [_record("de", "scifact", "test", 0.65, run="b" * 64),
                           _record("bm25", "scifact", "test", 0.67, run="bm25-run")])
    _write(tmp_path, "c", [_record("de", "dl19", "dl19", 0.63, run="d" * 64)])  # no overlap: not in conflict
    board = build_leaderboard(tmp_path, "nDCG@10")
    rows = _rows(board)
    assert rows["de (a)"] == {"scifact (test)": 0.62, "vaswani (test)": 0.40}  # kept, not overwritten
    assert rows["de (b)"] == {"scifact (test)": 0.65}
    assert rows["de"] == {"dl19 (dl19)": 0.63}
    assert rows["bm25"] == {"scifact (test)": 0.67}  # the same run in a and b: one system
    assert len(board.conflicts) == 1
    (line,) = board.conflicts
    assert "'de' on scifact (test)" in line and "suite 'a' run aaaaaaaaaaaa" in line
    assert "suite 'b' run bbbbbbbbbbbb" in line and "0.6200" in line and "0.6500" in line
    md = board.to_markdown()
    table, notes = md.split("\n\n", 1)
    assert "| de (a) | 0.6200 |" in table and "| de (b) | 0.6500 |" in table
    assert notes.startswith("Conflicts") and f"- {line}" in notes


def test_older_records_fall_back_to_variant_and_retrieve_hash(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("bm25", "scifact", "test", 0.67, retrieve="r1"),
                           _record("rm3", "scifact", "test", 0.60, retrieve="r2"),
                           _record("nohash", "scifact", "test", 0.50)])
    _write(tmp_path, "b", [_record("bm25", "scifact", "test", 0.67, retrieve="r1"),  # same run: merged
                           _record("rm3", "scifact", "test", 0.61, retrieve="r3"),  # another run
                           _record("nohash", "scifact", "test", 0.52)])  # runs unknown: not assumed equal
    board = build_leaderboard(tmp_path, "nDCG@10")
    assert set(_rows(board)) == {"bm25", "rm3 (a)", "rm3 (b)", "nohash (a)", "nohash (b)"}
    assert [c.split(":")[0] for c in board.conflicts] == ["'rm3' on scifact (test)", "'nohash' on scifact (test)"]
    assert "run unknown" in board.conflicts[1]


def test_newest_record_per_suite_wins(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("de", "scifact", "test", 0.50, run="old", created=1),
                           _record("de", "scifact", "test", 0.62, run="new", created=2)])
    _write(tmp_path, "b", [_record("de", "scifact", "test", 0.62, run="new")])
    board = build_leaderboard(tmp_path, "nDCG@10")
    assert board.conflicts == [] and _rows(board) == {"de": {"scifact (test)": 0.62}}


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(RqbenchError, match="no records found"):
        build_leaderboard(tmp_path, "nDCG@10")
    _write(tmp_path, "a", [_record("bm25", "scifact", "test", 0.67, run="r")])
    with pytest.raises(RqbenchError, match="did you mean 'nDCG@10'"):
        build_leaderboard(tmp_path, "nDGC@10")


def test_incomplete_rows_rank_by_their_mean_not_their_best_score(tmp_path: Path) -> None:
    # "spiky" has one excellent and one poor score on two of three sets; "steady" has two good ones.
    # Ranked by the best single score, spiky would come first; by the mean over what each has, steady does.
    _write(tmp_path, "s", [_record("full", "a", "test", 0.5, run="f1", created=1),
                           _record("full", "b", "test", 0.5, run="f2", created=1),
                           _record("full", "c", "test", 0.5, run="f3", created=1),
                           _record("spiky", "a", "test", 0.9, run="s1", created=1),
                           _record("spiky", "b", "test", 0.1, run="s2", created=1),
                           _record("steady", "a", "test", 0.6, run="t1", created=1),
                           _record("steady", "b", "test", 0.6, run="t2", created=1),
                           _record("single", "c", "test", 0.95, run="g1", created=1)])
    board = build_leaderboard(tmp_path, "nDCG@10")
    assert [system for system, _, _ in board.rows] == ["full", "steady", "spiky", "single"]
