"""Measures equal ir-measures (pytrec_eval / trec_eval) exactly on the same files; run/qrels IO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ir_measures
import pytest

from rqbench.errors import RqbenchError
from rqbench.measures import definition, evaluate, parse_measure, parse_measures
from rqbench.types import ScoredDoc, read_qrels, read_trec_run, sort_ranking, write_trec_run

MEASURES = ["RR@10", "R@100", "R@1000", "nDCG@10", "AP", "Success@100", "R(rel=2)@100", "nDCG@1000"]


def dl19_runs(data_root: Path) -> list[Path]:
    runs = sorted((data_root / "msmarco-dl19" / "runs").glob("*.trec"))
    assert len(runs) == 5
    return runs


def test_aggregate_and_per_query_equal_ir_measures(data_root: Path) -> None:
    qrels_path = data_root / "msmarco-dl19" / "qrels.dl19.txt"
    measures = parse_measures(MEASURES)
    for run_path in dl19_runs(data_root):
        ours = evaluate(read_trec_run(run_path), read_qrels(qrels_path), measures)
        qrels = list(ir_measures.read_trec_qrels(str(qrels_path)))
        theirs = ir_measures.calc_aggregate(measures, qrels, ir_measures.read_trec_run(str(run_path)))
        assert ours.aggregate == {str(m): v for m, v in theirs.items()}  # exact, not approx
        for metric in ir_measures.iter_calc(measures, qrels, ir_measures.read_trec_run(str(run_path))):
            assert ours.per_query[str(metric.measure)][metric.query_id] == metric.value


def test_published_dl19_bm25_anchor(data_root: Path) -> None:
    run = read_trec_run(data_root / "msmarco-dl19" / "runs" / "bm25.dl19.trec")
    result = evaluate(run, read_qrels(data_root / "msmarco-dl19" / "qrels.dl19.txt"), parse_measures(["nDCG@10"]))
    assert round(result.aggregate["nDCG@10"], 4) == 0.5058  # Pyserini's published TREC DL19 BM25 figure


def test_missing_query_scores_zero_and_counts() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": [ScoredDoc("a", 1.0)]}
    result = evaluate(run, qrels, parse_measures(["RR@10"]))
    assert result.aggregate["RR@10"] == 0.5
    assert result.per_query["RR@10"] == {"q1": 1.0, "q2": 0.0}
    assert result.n_queries == 2


def test_aliases_and_definitions() -> None:
    assert str(parse_measure("MRR@10")) == "RR@10"
    assert str(parse_measure("Hit@20")) == "Success@20"
    assert "hit rate" in definition(parse_measure("Success@100"))
    assert "NOT the hit rate" in definition(parse_measure("R@100"))
    with pytest.raises(RqbenchError, match="did you mean 'nDCG@10'"):
        parse_measure("nDGC@10")


def test_tie_break_is_score_then_docid_descending() -> None:
    ranked = sort_ranking([ScoredDoc("a", 1.0), ScoredDoc("c", 2.0), ScoredDoc("b", 1.0), ScoredDoc("d", 1.0)])
    assert [s.docid for s in ranked] == ["c", "d", "b", "a"]


def test_tie_order_matches_trec_eval(tmp_path: Path) -> None:
    """All scores tied: trec_eval's evaluated order must be the rank column we write."""
    qrels = {"q": {"d1": 1}}
    run = {"q": [ScoredDoc(f"d{i}", 0.0) for i in range(1, 6)]}
    path = tmp_path / "run.trec"
    write_trec_run(run, path)
    first_written = path.read_text().splitlines()[0].split()[2]
    got = evaluate(read_trec_run(path), qrels, parse_measures(["RR@10", "P@1"])).aggregate
    position = [ln.split()[2] for ln in path.read_text().splitlines()].index("d1") + 1
    assert first_written == "d5" and position == 5
    assert got["RR@10"] == pytest.approx(1 / position)  # the written order, for every measure
    trec_eval = ir_measures.providers.registry["pytrec_eval"].calc_aggregate(
        [ir_measures.RR @ 10, ir_measures.P @ 1], qrels, {"q": {f"d{i}": 0.0 for i in range(1, 6)}})
    assert got == {str(m): v for m, v in trec_eval.items()}


def test_run_roundtrip(tmp_path: Path, data_root: Path) -> None:
    run = read_trec_run(data_root / "msmarco-dl19-mini" / "bm25.top50.trec")
    write_trec_run(run, tmp_path / "copy.trec")
    again = read_trec_run(tmp_path / "copy.trec")
    assert again == run


@pytest.mark.parametrize(
    ("content", "line", "needle"),
    [
        ("q1 Q0 d1 1 1.5 t\nq1 Q0 d2 2 1.0\n", 2, "expected 6 columns"),
        ("q1 Q0 d1 1 high t\n", 1, "score 'high' is not a number"),
        ("q1 Q0 d1 1 1.0 t\nq1 Q0 d1 2 0.5 t\n", 2, "appears twice"),
        (b"q1 Q0 d\xff1 1 1.0 t\n", 1, "not valid UTF-8"),
        ("", None, "run file is empty"),
    ],
)
def test_bad_run_files(tmp_path: Path, content, line, needle: str) -> None:
    path = tmp_path / "bad.trec"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RqbenchError) as info:
        read_trec_run(path)
    expected_prefix = f"{path}:{line}: " if line else f"{path}: "
    assert info.value.one_line().startswith(expected_prefix)
    assert needle in info.value.one_line()


@pytest.mark.parametrize(
    ("content", "line", "needle"),
    [
        ("q1 0 d1 1\nq1 d2\n", 2, "found 2"),
        ("q1 0 d1 yes\n", 1, "relevance 'yes' is not a number"),
        ("q1 0 d1 1\nq1 0 d1 0\n", 2, "judged twice"),
    ],
)
def test_bad_qrels_files(tmp_path: Path, content: str, line: int, needle: str) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text(content)
    with pytest.raises(RqbenchError) as info:
        read_qrels(path)
    assert info.value.one_line().startswith(f"{path}:{line}: ") and needle in info.value.one_line()


def test_cli_eval_json_equals_ir_measures(data_root: Path) -> None:
    run_path = data_root / "msmarco-dl19" / "runs" / "bm25.dl19.trec"
    qrels_path = data_root / "msmarco-dl19" / "qrels.dl19.txt"
    out = subprocess.run([sys.executable, "-m", "rqbench.cli", "eval", str(qrels_path), str(run_path),
                          "-m", "RR@10", "-m", "nDCG@10", "--json"], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)["runs"][0]["aggregate"]
    theirs = ir_measures.calc_aggregate([ir_measures.RR @ 10, ir_measures.nDCG @ 10],
                                        ir_measures.read_trec_qrels(str(qrels_path)),
                                        ir_measures.read_trec_run(str(run_path)))
    assert got == {str(m): v for m, v in theirs.items()}


def test_api_qrels_dicts_are_held_to_the_file_readers_rules() -> None:
    """A qrels file with a NUL in an id or a grade past 16 bits is refused; a dict given to the Python API was
    not (issue 20 review): the same one-line errors."""
    import numpy as np

    import rqbench
    from rqbench.errors import RqbenchError
    from rqbench.types import ScoredDoc

    run = {"q1": [ScoredDoc("d1", 2.0), ScoredDoc("d2", 1.0)]}
    assert rqbench.evaluate(run, {"q1": {"d1": np.int64(1)}}, ["RR@10"])["RR@10"] == 1.0
    for qrels, message in (({"q1": {"d\x001": 1}}, "document id 'd\\\\x001' contains a control character"),
                           ({"q1": {"d1": 4294967296}}, "relevance 4294967296 of query 'q1', document 'd1'"),
                           ({"q1": {"d1": 1.5}}, "relevance 1.5 .* is not a whole number"),
                           ({1: {"d1": 1}}, "query id 1 is not a string")):
        with pytest.raises(RqbenchError, match=message):
            rqbench.evaluate(run, qrels, ["RR@10"])
