"""Issue 20, items 17 and 10 (the leaderboard): a defined row order that the legend states (the mean when
every row has it, else one evaluation set, the rows without it in stated blocks, never by how many sets a
row has); a run imported by two suites under different hashes but with identical per-query values is one
row, not a conflict, while different values still are; board.md and `_repr_markdown_` show names as text,
never as HTML. Hand-written records in tmp_path: no run, no training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.board import Leaderboard, Options, build_leaderboard, load_records
from rqbench.errors import RqbenchError

NDCG = "nDCG@10"


def _record(variant: str, dataset: str, values: dict[str, float], *, run: str, split: str = "test",
            measure: str = NDCG) -> dict:
    """A record with inline per-query values of one measure (qid -> value) and their mean."""
    mean = sum(values.values()) / len(values)
    return {"schema": 1, "record_id": f"{abs(hash((variant, dataset, run))):032x}",
            "created": "2025-02-01T00:00:00+00:00", "variant": variant,
            "dataset": {"name": dataset, "split": split}, "metrics": {measure: mean},
            "per_query": {measure: values}, "system": {"name": variant, "run": run}}


def _write(root: Path, suite: str, records: list[dict]) -> None:
    path = root / suite / "records.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({**r, "suite": suite}) + "\n")


def _board(root: Path, **options: object) -> Leaderboard:
    return build_leaderboard(load_records([root]), Options(n_resamples=200, **options))


def _flat(value: float, n: int = 6) -> dict[str, float]:
    return {f"q{i}": value for i in range(n)}


def _names(board: Leaderboard) -> list[str]:
    return [s.name for s in board.systems]


def _issue_board(root: Path) -> None:
    """The issue's shape: one system on many sets (all but the largest), several on one large set only."""
    _write(root, "many", [_record("everywhere", d, _flat(0.95), run=f"e-{d}") for d in ("tiny", "b", "c")])
    _write(root, "big", [_record(f"sys{i}", "large", _flat(0.5 + i / 10), run=f"s{i}") for i in range(4)]
            + [_record("also-b", "b", _flat(0.4), run="ab")])


def test_default_order_is_the_set_with_most_rows_and_is_stated(tmp_path: Path) -> None:
    _issue_board(tmp_path)
    board = _board(tmp_path)
    # the old order put 'everywhere' first for having three sets (its mean column empty like every other)
    assert _names(board) == ["sys3", "sys2", "sys1", "sys0", "everywhere", "also-b"]
    assert board.sort_key == f"large (test) {NDCG}"
    assert board.order_note == ("Ordered by nDCG@10 on large (test), the evaluation set with the most systems "
                                "(4 of 6); the 2 without it follow, by nDCG@10 on b (test) (2).")
    md = board.to_markdown()
    assert "- Ordered by nDCG@10 on large (test)" in md and "Sorted by mean" not in md
    assert board.to_dict()["order"] == board.order_note


def test_the_mean_orders_when_every_row_has_every_set(tmp_path: Path) -> None:
    _write(tmp_path, "s", [_record("x", "a", _flat(0.9), run="xa"), _record("x", "b", _flat(0.1), run="xb"),
                           _record("y", "a", _flat(0.6), run="ya"), _record("y", "b", _flat(0.6), run="yb")])
    board = _board(tmp_path)
    assert board.sort_key == f"mean {NDCG}" and _names(board) == ["y", "x"]  # 0.6 > 0.5, though x wins on a
    assert board.order_note == "Ordered by mean nDCG@10 over the evaluation sets."


def test_sort_by_an_evaluation_set_and_rows_with_none_by_name(tmp_path: Path) -> None:
    _issue_board(tmp_path)
    _write(tmp_path, "other", [_record("zeta", "c", _flat(0.2), run="z"),
                               _record("alpha", "d", _flat(0.1), run="a", measure="RR@10")])  # no nDCG@10
    board = _board(tmp_path, sort="b", measures=[NDCG, "RR@10"])  # a set's name: the first measure's column there
    assert board.sort_key == f"b (test) {NDCG}"
    assert _names(board) == ["everywhere", "also-b", "sys3", "sys2", "sys1", "sys0", "zeta", "alpha"]
    assert board.order_note == ("Ordered by nDCG@10 on b (test); the 6 without it follow, by nDCG@10 on large (test) "
                                "(4), then on c (test) (1); 1 with none of these by name.")
    _write(tmp_path, "split", [_record("sys0", "b", _flat(0.5), run="bd", split="dev")])
    with pytest.raises(RqbenchError, match="names 2 evaluation sets"):
        _board(tmp_path, sort="b")


def test_one_run_in_two_suites_under_different_hashes_is_one_row(tmp_path: Path) -> None:
    values = {"q1": 1.0, "q2": 0.25, "q3": 0.5}
    # the same published run imported twice (an import option added since changed its hash)
    _write(tmp_path, "dl19-bm25", [_record("published-bm25", "dl19", values, run="hash-one")])
    _write(tmp_path, "dl19-leaderboard", [_record("published-bm25", "dl19", values, run="hash-two"),
                                          _record("bm25", "dl19", _flat(0.3, 3), run="bm25")])
    board = _board(tmp_path)
    assert _names(board) == ["published-bm25", "bm25"]  # once, not "published-bm25 (dl19-bm25)" and another
    assert board.conflicts == []
    assert board.system("published-bm25").suites == ("dl19-bm25", "dl19-leaderboard")
    assert any("identical per-query values: one row" in n for n in board.notes)


def test_different_values_under_one_name_are_still_a_conflict(tmp_path: Path) -> None:
    _write(tmp_path, "a", [_record("de", "dl19", {"q1": 1.0, "q2": 0.5}, run="r1")])
    _write(tmp_path, "b", [_record("de", "dl19", {"q1": 1.0, "q2": 0.4}, run="r2")])
    board = _board(tmp_path)
    assert _names(board) == ["de (a)", "de (b)"] and len(board.conflicts) == 1


def test_markdown_shows_names_and_labels_as_text_never_html(tmp_path: Path) -> None:
    evil = "<img src=x onerror=alert(1)>"
    _write(tmp_path, "s", [_record(f"x{evil}|y", f"set<b>|{evil}", _flat(0.5), run="r1"),
                           _record("plain &amp; sure", f"set<b>|{evil}", _flat(0.4), run="r2")])
    board = _board(tmp_path)
    for md in (board.to_markdown(), board._repr_markdown_()):
        assert "<img" not in md and "<b>" not in md  # would render (and run) in Jupyter and on GitHub
        assert "x&lt;img src=x onerror=alert(1)>\\|y" in md and "set&lt;b>\\|&lt;img" in md
        assert "plain &amp;amp; sure" in md  # shows "&amp;" literally, not "&"
        table = [line for line in md.splitlines() if line.startswith("|")]
        cells = {len(line.replace("\\|", "").split("|")) for line in table}
        assert len(cells) == 1  # an escaped '|' never adds a column
        assert "<sup>" in md  # the tie groups' own markup stays


def test_markdown_names_are_escaped_like_the_reports(tmp_path: Path) -> None:
    """board.md escapes with the reports' one helper (`rqbench.report.mdtext`): a name never renders as a
    link or emphasis either, not only never as HTML."""
    from markdown_it import MarkdownIt

    _write(tmp_path, "s", [_record("*x*[y](http://e.example)", "toy", _flat(0.5), run="r1"),
                           _record("md0_inbatch", "toy", _flat(0.4), run="r2")])
    html = MarkdownIt("commonmark").enable("table").render(_board(tmp_path).to_markdown())
    assert "<em>" not in html and "<a " not in html and "*x*[y](http://e.example)" in html
    assert "md0_inbatch" in html


def test_api_repr_markdown_escapes_run_names(tmp_path: Path) -> None:
    import rqbench

    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\nq2 0 d2 1\n")
    (tmp_path / "a.trec").write_text("q1 Q0 d1 1 2.0 t\nq2 Q0 d9 1 2.0 t\nq2 Q0 d2 2 1.0 t\n")
    (tmp_path / "b.trec").write_text("q1 Q0 d9 1 2.0 t\nq1 Q0 d1 2 1.0 t\nq2 Q0 d2 1 2.0 t\n")
    runs = {"<script>x</script>": tmp_path / "a.trec", "fine": tmp_path / "b.trec"}
    md = rqbench.leaderboard(runs=runs, qrels=tmp_path / "qrels.txt", dataset="toy")._repr_markdown_()
    assert "<script>" not in md and "&lt;script>x&lt;/script>" in md


def test_cli_states_the_order_and_lists_a_published_run_once(tmp_path: Path) -> None:
    _issue_board(tmp_path)
    values = {"q1": 1.0, "q2": 0.0}
    _write(tmp_path, "copy-a", [_record("published", "large", values, run="h1")])
    _write(tmp_path, "copy-b", [_record("published", "large", values, run="h2")])
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", "leaderboard", str(tmp_path), "--markdown",
                           str(tmp_path / "board.md")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "leaderboard, ordered by nDCG@10 on large (test)" in proc.stdout
    assert "Ordered by nDCG@10 on large (test), the evaluation set with the most systems (5 of 7)" in proc.stdout
    assert "Conflict" not in proc.stdout
    md = (tmp_path / "board.md").read_text()
    assert sum(line.startswith("| ") and " published " in line for line in md.splitlines()) == 1
