"""The leaderboard: systems identified by name and evaluated run; a column per (evaluation set, measure);
ranks and statistical tie groups on hand-checkable per-query values; seeds folded into arms; conflicts
between suites kept as separate rows and listed, never silently overwritten; queries aligned explicitly;
CSV and Markdown that read back to the same numbers."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from rqbench.board import Column, Leaderboard, Options, build_leaderboard, load_records
from rqbench.board.ties import has_two_letter_labels, letters_for
from rqbench.errors import RqbenchError
from rqbench.records import SCHEMA

NDCG = "nDCG@10"


def _record(variant: str, dataset: str, split: str, ndcg: float | None = None, *, run: str | None = None,
            name: str | None = None, retrieve: str | None = None, created: int = 1,
            per_query: dict[str, float] | None = None, qrels: str | None = None, **extra: object) -> dict:
    """A minimal record; `run` None writes an older record without "system"; `per_query` (qid -> nDCG@10)
    inline, its mean the metric unless `ndcg` is given."""
    if ndcg is None:
        assert per_query is not None
        ndcg = sum(per_query.values()) / len(per_query)
    record = {
        "schema": SCHEMA, "record_id": f"{created:032x}", "created": f"2025-02-{created:02d}T00:00:00+00:00",
        "suite": "?", "variant": variant,
        "dataset": {"name": dataset, "split": split, **({"fingerprints": {"qrels": qrels}} if qrels else {})},
        "metrics": {NDCG: ndcg, "RR@10": ndcg / 2},
        "artifact_hashes": {"index": "i" * 64, **({"retrieve": retrieve} if retrieve else {})}, **extra,
    }
    if per_query is not None:
        record["per_query"] = {NDCG: per_query, "RR@10": {q: v / 2 for q, v in per_query.items()}}
    if run is not None:
        record["system"] = {"name": name or variant, "run": run}
    return record


def _write(root: Path, suite: str, records: list[dict]) -> None:
    path = root / suite / "records.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({**r, "suite": suite}, sort_keys=True) + "\n")


def _board(root: Path, **options: object) -> Leaderboard:
    return build_leaderboard(load_records([root]), Options(**options))


def _values(board: Leaderboard, measure: str = NDCG) -> dict[str, dict[str, float]]:
    return {s.name: {c.dataset: board.cells[(s.name, c)].value for c in board.columns
                     if c.measure == measure and (s.name, c) in board.cells} for s in board.systems}


# --- tie groups --------------------------------------------------------------------------------------------

def test_letters_are_runs_of_consecutive_tied_systems() -> None:
    order = ["A", "B", "C", "D"]
    # A ~ B, B ~ C, but A > C; D differs from everyone
    tied = {("A", "B"): True, ("B", "C"): True, ("A", "C"): False, ("A", "D"): False, ("B", "D"): False,
            ("C", "D"): False}
    assert letters_for(order, tied) == {"A": "a", "B": "ab", "C": "b", "D": "c"}
    assert letters_for(order, {p: True for p in tied}) == {n: "a" for n in order}
    assert letters_for(order, {p: False for p in tied}) == {"A": "a", "B": "b", "C": "c", "D": "d"}
    # the pair (A, C) is untied even though both are tied to B and C ~ D: letters say exactly that
    tied[("C", "D")] = True
    assert letters_for(order, tied) == {"A": "a", "B": "ab", "C": "bc", "D": "c"}


def test_a_shared_letter_means_exactly_not_significantly_different() -> None:
    import itertools
    import random

    # A > B significantly, C tied with both: C shares a letter with each, A and B share none
    assert letters_for(["A", "B", "C"], {("A", "B"): False, ("A", "C"): True, ("B", "C"): True}) == \
        {"A": "a", "B": "b", "C": "ab"}
    rng = random.Random(0)
    for _ in range(300):
        order = [str(i) for i in range(rng.randint(1, 9))]
        tied = {pair: rng.random() < 0.5 for pair in itertools.combinations(order, 2)}
        letters = letters_for(order, tied)
        assert all(letters[x] for x in order)
        for a, b in itertools.combinations(order, 2):
            assert bool(set(letters[a]) & set(letters[b])) == tied[(a, b)], (tied, letters)


def test_past_26_groups_the_labels_are_separated() -> None:
    import itertools

    # 28 systems all significantly different, except that the last two are tied with each other
    order = [f"s{i:02d}" for i in range(28)]
    tied = {pair: pair == ("s26", "s27") for pair in itertools.combinations(order, 2)}
    letters = letters_for(order, tied)
    assert letters["s00"] == "a" and letters["s25"] == "z" and letters["s26"] == letters["s27"] == "aa"
    assert has_two_letter_labels(letters.values())  # no '.' anywhere, yet "aa" is one label: the legend says so
    assert not has_two_letter_labels(["ab", "b", "c"])
    tied[("s25", "s26")] = True  # now s26 shares z with s25 and aa with s27: "z.aa", never read as "zaa"
    letters = letters_for(order, tied)
    assert letters["s26"] == "z.aa" and letters["s25"] == "z" and letters["s27"] == "aa"
    for a, b in itertools.combinations(order, 2):
        assert bool(set(letters[a].split(".")) & set(letters[b].split("."))) == tied[(a, b)]


def test_ranks_and_tie_groups_from_per_query_values(tmp_path: Path) -> None:
    queries = [f"q{i}" for i in range(40)]
    best = dict.fromkeys(queries, 1.0)
    near = {q: (0.0 if i == 0 else 1.0) for i, q in enumerate(queries)}  # loses one query of 40: a tie
    worst = dict.fromkeys(queries, 0.0)  # loses every query: significantly worse than both
    same = dict(near)  # equal to `near`: the same rank
    _write(tmp_path, "s", [_record("best", "d", "test", run="r1", per_query=best),
                           _record("near", "d", "test", run="r2", per_query=near),
                           _record("worst", "d", "test", run="r3", per_query=worst),
                           _record("same", "d", "test", run="r4", per_query=same)])
    board = _board(tmp_path, n_resamples=2000)
    col = Column("d (test)", NDCG)
    assert [s.name for s in board.systems] == ["best", "near", "same", "worst"]
    cells = {s.name: board.cells[(s.name, col)] for s in board.systems}
    assert [cells[n].rank for n in ("best", "near", "same", "worst")] == [1, 2, 2, 4]
    assert cells["near"].value == pytest.approx(39 / 40)
    assert {n: c.groups for n, c in cells.items()} == {"best": "a", "near": "a", "same": "a", "worst": "b"}
    assert all(c.n_queries == 40 and c.missing == 0 and c.paired for c in cells.values())


# --- systems, columns, conflicts --------------------------------------------------------------------------

def test_one_row_per_system_and_a_cell_per_evaluation_set(tmp_path: Path) -> None:
    _write(tmp_path, "sci", [_record("bm25", "scifact", "test", 0.67, run="r-bm25-sci", created=1),
                             _record("dense", "scifact", "test", 0.64, run="r-dense-sci", created=1),
                             _record("bm25", "dl19", "dl19", 0.46, run="r-bm25-dl19", created=2),
                             _record("dense", "dl19", "dl19", 0.63, run="r-dense-dl19", created=2)])
    # the same system under another variant name, on a third set
    _write(tmp_path, "vas", [_record("baseline", "vaswani", "test", 0.44, run="r-bm25-vas", name="bm25")])
    board = _board(tmp_path)
    assert board.datasets == ["scifact (test)", "dl19 (dl19)", "vaswani (test)"] and board.measures == [NDCG]
    assert board.conflicts == []
    assert _values(board) == {"bm25": {"scifact (test)": 0.67, "dl19 (dl19)": 0.46, "vaswani (test)": 0.44},
                              "dense": {"scifact (test)": 0.64, "dl19 (dl19)": 0.63}}
    assert board.means[NDCG] == {"bm25": pytest.approx((0.67 + 0.46 + 0.44) / 3)}  # dense lacks a set
    assert board.sort_key == f"scifact (test) {NDCG}"  # dense lacks the mean: the first set with the most rows
    # no per-query values in these records: the means are shown, outside the tie groups, and said so
    assert not board.cells[("bm25", board.columns[0])].paired
    assert any("no per-query values" in n for n in board.notes)


def test_same_run_in_two_suites_is_one_system(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("bm25", "scifact", "test", 0.6789, run="same-run")])
    _write(tmp_path, "b", [_record("bm25", "scifact", "test", 0.6789, run="same-run"),
                           _record("bm25", "nq", "dev", 0.30, run="other-run")])
    board = _board(tmp_path)
    assert board.conflicts == []
    assert _values(board) == {"bm25": {"scifact (test)": 0.6789, "nq (dev)": 0.30}}
    assert board.system("bm25").suites == ("a", "b")


def test_different_runs_under_one_name_are_a_conflict(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("de", "scifact", "test", 0.62, run="a" * 64),
                           _record("de", "vaswani", "test", 0.40, run="c" * 64),
                           _record("bm25", "scifact", "test", 0.67, run="bm25-run")])
    _write(tmp_path, "b", [_record("de", "scifact", "test", 0.65, run="b" * 64),
                           _record("bm25", "scifact", "test", 0.67, run="bm25-run")])
    _write(tmp_path, "c", [_record("de", "dl19", "dl19", 0.63, run="d" * 64)])  # no overlap: not in conflict
    board = _board(tmp_path)
    values = _values(board)
    assert values["de (a)"] == {"scifact (test)": 0.62, "vaswani (test)": 0.40}  # kept, not overwritten
    assert values["de (b)"] == {"scifact (test)": 0.65}
    assert values["de (c)"] == {"dl19 (dl19)": 0.63}  # a split name: c shares no set with a or b
    assert values["bm25"] == {"scifact (test)": 0.67}
    (line,) = board.conflicts
    assert line == "'de' on scifact (test) evaluated different runs: run aaaaaaaaaaaa in 'a'; run bbbbbbbbbbbb in 'b'"
    md = board.to_markdown()
    assert "| de (a) | 0.6200† |" in md and f"- Conflict: {line}" in md


def test_suites_sharing_a_run_share_one_row_beside_a_conflicting_one(tmp_path: Path) -> None:
    for suite in ("x", "y", "z"):
        _write(tmp_path, suite, [_record("bm25", "scifact", "test", 0.6789, run="same")])
    _write(tmp_path, "w", [_record("bm25", "scifact", "test", 0.60, run="other")])
    board = _board(tmp_path)
    assert _values(board) == {"bm25 (x +2)": {"scifact (test)": 0.6789}, "bm25 (w)": {"scifact (test)": 0.60}}
    assert board.system("bm25 (x +2)").suites == ("x", "y", "z")
    assert board.conflicts == ["'bm25' on scifact (test) evaluated different runs: run other in 'w'; "
                               "run same in 'x', 'y', 'z'"]


def test_a_split_name_keeps_every_cell_once(tmp_path: Path) -> None:
    # suite names that sort around ", " and a suite agreeing with one row on one set and adding another
    _write(tmp_path, "a", [_record("bm25", "d1", "test", 0.5, run="r1")])
    _write(tmp_path, "a+b", [_record("bm25", "d1", "test", 0.5, run="r1"),
                             _record("bm25", "d2", "test", 0.7, run="r3")])
    _write(tmp_path, "c", [_record("bm25", "d1", "test", 0.4, run="r2")])
    board = _board(tmp_path)
    assert _values(board) == {"bm25 (a +1)": {"d1 (test)": 0.5, "d2 (test)": 0.7}, "bm25 (c)": {"d1 (test)": 0.4}}
    assert board.system("bm25 (a +1)").suites == ("a", "a+b")
    assert board.means[NDCG] == {"bm25 (a +1)": pytest.approx(0.6)}


def test_older_records_fall_back_to_variant_and_retrieve_hash(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("bm25", "scifact", "test", 0.67, retrieve="r1"),
                           _record("rm3", "scifact", "test", 0.60, retrieve="r2"),
                           _record("nohash", "scifact", "test", 0.50)])
    _write(tmp_path, "b", [_record("bm25", "scifact", "test", 0.67, retrieve="r1"),  # same run: merged
                           _record("rm3", "scifact", "test", 0.61, retrieve="r3"),  # another run
                           _record("nohash", "scifact", "test", 0.52)])  # runs unknown: not assumed equal
    board = _board(tmp_path)
    assert set(_values(board)) == {"bm25", "rm3 (a)", "rm3 (b)", "nohash (a)", "nohash (b)"}
    assert [c.split(" evaluated")[0] for c in board.conflicts] == ["'rm3' on scifact (test)",
                                                                  "'nohash' on scifact (test)"]
    assert "run unknown" in board.conflicts[1]


def test_newest_record_per_suite_wins(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("de", "scifact", "test", 0.50, run="old", created=1),
                           _record("de", "scifact", "test", 0.62, run="new", created=2)])
    _write(tmp_path, "b", [_record("de", "scifact", "test", 0.62, run="new")])
    board = _board(tmp_path)
    assert board.conflicts == [] and _values(board) == {"de": {"scifact (test)": 0.62}}


def test_incomplete_rows_rank_by_one_stated_set_never_a_mean_over_what_each_has(tmp_path: Path) -> None:
    # not every row has every set: by the set with the most rows (a, first of a and b), single (c only) last
    _write(tmp_path, "s", [_record("full", "a", "test", 0.5, run="f1"), _record("full", "b", "test", 0.5, run="f2"),
                           _record("full", "c", "test", 0.5, run="f3"),
                           _record("spiky", "a", "test", 0.9, run="s1"), _record("spiky", "b", "test", 0.1, run="s2"),
                           _record("steady", "a", "test", 0.6, run="t1"),
                           _record("steady", "b", "test", 0.6, run="t2"),
                           _record("single", "c", "test", 0.95, run="g1")])
    board = _board(tmp_path)
    assert [s.name for s in board.systems] == ["spiky", "steady", "full", "single"]
    assert board.order_note.startswith("Ordered by nDCG@10 on a (test), the evaluation set with the most systems")
    by_mean = _board(tmp_path, sort=NDCG)  # the mean (only full has it), the others by set a, then c
    assert [s.name for s in by_mean.systems] == ["full", "spiky", "steady", "single"]
    by_c = _board(tmp_path, sort="c (test) nDCG@10")  # sorted by one column instead: absent last
    assert [s.name for s in by_c.systems] == ["single", "full", "spiky", "steady"]


def test_seeds_fold_into_their_arm(tmp_path: Path) -> None:
    qs = ["q1", "q2", "q3", "q4"]
    _write(tmp_path, "s", [
        _record("md0[seed=1]", "d", "test", run="s1", per_query=dict(zip(qs, [1.0, 0.5, 0.0, 0.5], strict=True)),
                arm="md0", seed=1),
        _record("md0[seed=2]", "d", "test", run="s2", per_query=dict(zip(qs, [1.0, 1.0, 0.0, 0.5], strict=True)),
                arm="md0", seed=2),
        _record("bm25", "d", "test", run="b", per_query=dict.fromkeys(qs, 0.25))])
    board = _board(tmp_path, n_resamples=500)
    assert [s.name for s in board.systems] == ["md0", "bm25"]
    assert board.system("md0").seeds == (1, 2)
    cell = board.cells[("md0", board.columns[0])]
    assert cell.value == pytest.approx((0.5 + 0.625) / 2)
    assert cell.sd == pytest.approx(0.0883883, abs=1e-6)  # sample sd of 0.5 and 0.625
    assert "(2 seeds)" in board.to_markdown() and "± 0.0884" in board.to_markdown()


def test_one_split_name_with_different_qrels_is_two_columns(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("x", "scifact", "probe", 0.5, run="1", qrels="q-a")])
    _write(tmp_path, "b", [_record("x", "scifact", "probe", 0.6, run="2", qrels="q-b")])
    board = _board(tmp_path)
    assert board.datasets == ["scifact (probe) [a]", "scifact (probe) [b]"] and board.conflicts == []
    assert any("different qrels" in n for n in board.notes)


def test_filters_and_errors(tmp_path: Path) -> None:
    with pytest.raises(RqbenchError, match="no records found"):
        load_records([tmp_path])
    with pytest.raises(RqbenchError, match="no such file"):
        load_records([tmp_path / "nope"])
    _write(tmp_path, "a", [_record("bm25", "scifact", "test", 0.67, run="r"),
                           _record("bm25", "dl19", "dl19", 0.5, run="r2")])
    with pytest.raises(RqbenchError, match="did you mean 'nDCG@10'"):
        _board(tmp_path, measures=["nDGC@10"])
    with pytest.raises(RqbenchError, match=r"no records for dataset 'scifcat'.*did you mean"):
        _board(tmp_path, datasets=["scifcat"])
    with pytest.raises(RqbenchError, match="cannot sort by 'P@5'"):
        _board(tmp_path, sort="P@5")
    only = _board(tmp_path, datasets=["dl19"], measures=["MRR@10", "ndcg@10"])
    assert only.datasets == ["dl19 (dl19)"] and only.measures == ["RR@10", NDCG]
    assert not only.has_mean()


# --- alignment, outputs -----------------------------------------------------------------------------------

def test_runs_with_different_query_sets_are_aligned_and_counted(tmp_path: Path) -> None:
    import rqbench

    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}, "q4": {"d4": 1}}
    full = tmp_path / "full.trec"
    full.write_text("".join(f"q{i} Q0 d{i} 1 1.0 full\n" for i in range(1, 5)))  # every query right
    partial = tmp_path / "partial.trec"
    partial.write_text("q1 Q0 d1 1 1.0 p\nq2 Q0 d2 1 1.0 p\nq9 Q0 x 1 1.0 p\n")  # answers 2 of 4, one unjudged
    board = rqbench.leaderboard(runs=[full, partial], qrels=qrels, measures=["RR@10"], dataset="toy")
    col = Column("toy", "RR@10")
    assert board.cells[("partial", col)].value == 0.5  # q3, q4 score 0: averaged over all 4 queries
    assert board.cells[("partial", col)].missing == 2 and board.cells[("full", col)].missing == 0
    assert any("'partial' has no value for 2 of the 4 queries" in n for n in board.notes)
    with pytest.raises(RqbenchError, match="shares no query"):
        rqbench.leaderboard(runs={"other": {"zz": []}, "full": full}, qrels=qrels)
    with pytest.raises(RqbenchError, match=r"not found|no such file"):
        rqbench.leaderboard(runs=[tmp_path / "missing.trec"], qrels=qrels)
    records = tmp_path / "records"
    _write(records, "s", [_record("full", "toy", "test", 0.5, run="x")])
    with pytest.raises(RqbenchError, match="run name 'full' is also a system in the records"):
        rqbench.leaderboard(records, runs=[full], qrels=qrels)
    with pytest.raises(RqbenchError, match=r"given twice"):
        from rqbench.run_files import run_names
        run_names([full, partial], ["a", "a"])


def _parse_markdown(md: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in md.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    return split[0], split[2:]


def test_csv_and_markdown_read_back_to_the_same_numbers(tmp_path: Path) -> None:
    qs = [f"q{i}" for i in range(12)]
    _write(tmp_path, "s", [
        _record("a|b", "d", "test", run="1", per_query={q: (i % 3) / 3 for i, q in enumerate(qs)}),
        _record("c", "d", "test", run="2", per_query={q: (i % 4) / 4 for i, q in enumerate(qs)}),
        _record("c", "e", "test", run="3", per_query={q: (i % 5) / 5 for i, q in enumerate(qs)}),
        _record("a|b", "e", "test", run="4", per_query={q: 0.1 for q in qs})])
    board = _board(tmp_path, measures=[NDCG, "RR@10"], n_resamples=500)
    rows = list(csv.DictReader(io.StringIO(board.to_csv())))
    assert [r["system"] for r in rows] == [s.name for s in board.systems]
    for r in rows:
        for c in board.columns:
            cell = board.cells[(r["system"], c)]
            assert float(r[c.label]) == cell.value and int(r[f"{c.label} rank"]) == cell.rank
            assert r[f"{c.label} groups"] == cell.groups
        for m in board.measures:
            assert float(r[f"mean {m}"]) == board.means[m][r["system"]]
    head, body = _parse_markdown(board.to_markdown())
    assert head[:2] == ["#", "system"] and head[2:6] == [c.label for c in board.columns]
    for row in body:
        name = row[1].replace("\\|", "|")
        for c, text in zip(board.columns, row[2:6], strict=True):
            cell = board.cells[(name, c)]
            value, letters = re.fullmatch(r"([0-9.]+)<sup>([a-z]+)</sup>", text).groups()
            assert float(value) == round(cell.value, 4) and letters == cell.groups
    frame = board.to_frame()
    assert list(frame.index) == [s.name for s in board.systems]
    assert frame.loc["c", f"mean {NDCG}"] == board.means[NDCG]["c"]


def test_options_and_record_order_and_qrels_versions(tmp_path: Path) -> None:
    _write(tmp_path / "new", "s", [_record("de", "d", "test", 0.62, run="new", created=5)])
    _write(tmp_path / "old", "s", [_record("de", "d", "test", 0.50, run="old", created=1)])
    # the committed copy read after the fresh one: the newest record still wins
    board = build_leaderboard(load_records([tmp_path / "new", tmp_path / "old"]))
    assert _values(board) == {"de": {"d (test)": 0.62}}
    with pytest.raises(RqbenchError, match="unknown test 'ttest'"):
        build_leaderboard(load_records([tmp_path / "new"]), Options(test="ttest"))
    with pytest.raises(RqbenchError, match="alpha must be between 0 and 1"):
        build_leaderboard(load_records([tmp_path / "new"]), Options(alpha=1.5))
    with pytest.raises(RqbenchError, match="no record has any measure"):
        build_leaderboard([{**_record("x", "d", "test", 0.1), "metrics": {}}])
    # one suite, one split name, two qrels versions (re-run after the qrels changed): two labelled columns
    two = [_record("a", "d", "probe", 0.5, run="1", qrels="aaaaaaaaaa1", created=1),
           _record("b", "d", "probe", 0.6, run="2", qrels="bbbbbbbbbb2", created=2)]
    board = build_leaderboard([{**r, "suite": "s"} for r in two])
    assert board.datasets == ["d (probe) [s, qrels aaaaaaaa]", "d (probe) [s, qrels bbbbbbbb]"]


def test_runs_join_a_suite_column_with_the_same_qrels(tmp_path: Path) -> None:
    import rqbench
    from rqbench.data.dataset import Dataset

    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    fingerprint = Dataset("toy", "", {}, {}, {"test": qrels}).fingerprint("qrels/test")
    _write(tmp_path / "results", "s", [_record("bm25", "toy", "test", run="b", qrels=fingerprint,
                                               per_query={"q1": 1.0, "q2": 0.0})])
    run = tmp_path / "mine.trec"
    run.write_text("q1 Q0 d1 1 1.0 m\nq2 Q0 d2 1 1.0 m\n")
    board = rqbench.leaderboard(tmp_path / "results", runs=[run], qrels=qrels, dataset="toy", split="test",
                                measures=["nDCG@10"])
    assert board.datasets == ["toy (test)"] and [s.name for s in board.systems] == ["mine", "bm25"]


def test_a_rerankers_search_cost_adds_its_sources_search_and_its_scoring() -> None:
    from rqbench.board.cost import record_cost as _cost

    stages = [{"role": "mine_from:retrieve", "kind": "retrieve", "built_seconds": 50.0},  # its training data
              {"role": "train", "kind": "train", "built_seconds": 100.0},
              {"role": "rerank_of:retrieve", "kind": "retrieve", "built_seconds": 9.0, "search_seconds": 2.0},
              {"role": "score", "kind": "score", "built_seconds": 7.0},
              {"role": "rerank", "kind": "rerank", "built_seconds": 1.0}]
    cost = _cost({"n_queries": 50, "stages": stages})
    assert cost["train_s"] == 100.0
    assert cost["search_qps"] == pytest.approx(50 / (2.0 + 7.0 + 1.0))
    # a cascade: the first re-ranker's scoring and reordering are part of the second's search too
    cascade = [{"role": "rerank_of:rerank_of:retrieve", "kind": "retrieve", "built_seconds": 9.0,
                "search_seconds": 2.0},
               {"role": "rerank_of:score", "kind": "score", "built_seconds": 7.0},
               {"role": "rerank_of:rerank", "kind": "rerank", "built_seconds": 1.0},
               {"role": "rerank_of:mine_from:retrieve", "kind": "retrieve", "built_seconds": 30.0},
               {"role": "score", "kind": "score", "built_seconds": 4.0},
               {"role": "rerank", "kind": "rerank", "built_seconds": 1.0}]
    assert _cost({"n_queries": 50, "stages": cascade})["search_qps"] == pytest.approx(50 / 15.0)
    # every query of the split is searched, also those without judgements (which measures skip)
    judged_43_of_200 = {"n_queries": 43, "dataset": {"n_queries": 200}, "stages": stages}
    assert _cost(judged_43_of_200)["search_qps"] == pytest.approx(200 / 10.0)
