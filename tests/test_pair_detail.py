"""Two systems query by query (`rqbench compare A B`): which queries are shown, their numbers and both
systems' top passages, on TREC DL19's published runs; recorded systems named SUITE:VARIANT."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.measures import evaluate, parse_measure
from rqbench.pair.detail import _largest, pair_detail
from rqbench.pair.render import sparkline
from rqbench.records import SCHEMA
from rqbench.types import read_qrels, read_trec_run, sort_ranking


def test_the_largest_differences_of_both_sides_alternate() -> None:
    diffs = {"a": 0.9, "b": 0.5, "c": 0.1, "d": -0.2, "e": -0.7, "f": 0.0}
    assert _largest(diffs, 4) == ["a", "e", "b", "d"]  # two of each side, by |difference|
    assert _largest(diffs, 10) == ["a", "e", "b", "d", "c"]  # a tie (f) is never a "difference"
    assert _largest({"a": 0.3, "b": 0.2, "c": -0.1}, 2) == ["a", "c"]
    assert _largest({"a": 0.3, "b": 0.2}, 2) == ["a", "b"]  # one side only: all from it
    assert _largest({"a": 0.3, "b": -0.8, "c": -0.5}, 1) == ["b"]  # an odd n: the larger side first
    assert _largest({"a": 0.3, "b": -0.8, "c": -0.5}, 2) == ["b", "a"]  # one of each side
    assert sparkline([1.0, 0.0, -1.0]) == "█ █" and sparkline([]) == ""


def test_detail_on_published_runs(data_root: Path) -> None:
    folder = data_root / "msmarco-dl19"
    qrels = read_qrels(folder / "qrels.dl19.txt")
    bm25 = read_trec_run(folder / "runs" / "bm25.dl19.trec")
    tasb = read_trec_run(folder / "runs" / "d-bert-kd-tasb.dl19.trec")
    texts = {"19335": "anthropological definition of environment"}
    corpus = {"8412684": "Ecological Anthropology."}
    d = pair_detail({"bm25": bm25, "tas-b": tasb}, qrels, "ndcg@10", label="dl19", queries=texts, corpus=corpus,
                    n=6, top=3, n_resamples=1000)
    ndcg = parse_measure("nDCG@10")
    a, b = evaluate(bm25, qrels, [ndcg]).per_query["nDCG@10"], evaluate(tasb, qrels, [ndcg]).per_query["nDCG@10"]
    c = d.comparison
    assert d.measure == "nDCG@10" and c.n == 43 and c.wins + c.ties + c.losses == 43
    assert c.mean_a == pytest.approx(0.5058, abs=5e-5) and c.mean_b == pytest.approx(0.7210, abs=5e-5)  # published
    assert d.diffs == {q: pytest.approx(a[q] - b[q]) for q in qrels}
    shown = [q.qid for q in d.queries]
    bm25_wins = sorted((q for q in qrels if a[q] > b[q]), key=lambda q: b[q] - a[q])[:3]
    tasb_wins = sorted((q for q in qrels if a[q] < b[q]), key=lambda q: a[q] - b[q])[:3]
    assert set(shown) == set(bm25_wins) | set(tasb_wins) and len(shown) == 6
    assert [abs(q.diff) for q in d.queries] == sorted((abs(q.diff) for q in d.queries), reverse=True)
    for q in d.queries:
        assert q.a == a[q.qid] and q.b == b[q.qid]
        assert [p.docid for p in q.a_top] == [s.docid for s in sort_ranking(bm25[q.qid])[:3]]
        assert [p.docid for p in q.b_top] == [s.docid for s in sort_ranking(tasb[q.qid])[:3]]
        assert all(p.grade == qrels[q.qid].get(p.docid) for p in q.a_top + q.b_top)
        assert q.relevant == sum(g >= 1 for g in qrels[q.qid].values())
    q19335 = next(q for q in d.queries if q.qid == "19335")
    assert q19335.text == texts["19335"] and q19335.a_top[0].text == "Ecological Anthropology."
    assert "19335" in d.to_markdown() and r"| 1 | \[grade 3\] 8412684: Ecological Anthropology. |" in d.to_markdown()
    with pytest.raises(RqbenchError, match="two systems"):
        pair_detail({"bm25": bm25}, qrels, "nDCG@10")


def cli(*args: str, cwd: Path, data_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120", "RQBENCH_DATA": str(data_root)}, timeout=600)


def _recorded(results: Path, data_root: Path) -> None:
    """A suite's records of two systems with their run files, as `rqbench run` writes them."""
    suite = results / "pub"
    (suite / "runs").mkdir(parents=True)
    for variant, file in (("bm25", "bm25.dl19.trec"), ("tas-b", "d-bert-kd-tasb.dl19.trec"),
                          ("rm3", "bm25-rm3.dl19.trec")):
        shutil.copy(data_root / "msmarco-dl19" / "runs" / file, suite / "runs" / f"{variant}.trec")
        for evaluation in (["dl19", "again"] if variant == "tas-b" else ["dl19"]):
            record = {"schema": SCHEMA, "suite": "pub", "variant": variant, "run_file": f"runs/{variant}.trec",
                      "dataset": {"name": "msmarco-dl19", "split": "dl19"}, "evaluation": {"name": evaluation},
                      "metrics": {}, "system": {"name": variant, "run": variant}}
            with (suite / "records.jsonl").open("a") as fh:
                fh.write(json.dumps(record) + "\n")


def test_compare_recorded_systems_with_texts(tmp_path: Path, data_root: Path) -> None:
    _recorded(tmp_path / "results", data_root)
    out = cli("compare", "pub:bm25", "pub:tas-b@dl19", "-m", "nDCG@10", "--detail", "2", "--top", "2", "--out",
              str(tmp_path / "cmp"), cwd=tmp_path, data_root=data_root)
    assert out.returncode == 0, out.stderr
    assert "msmarco-dl19 (dl19), 43 queries" in out.stdout  # the qrels came from the records' dataset
    # A is the candidate, B the baseline (the first system): the differences are candidate - baseline
    assert "pub:tas-b@dl19 wins 34, ties 0, loses 9" in out.stdout.replace("\n", " ").replace("  ", " ")
    assert "when was the salvation army founded" in out.stdout  # a query text from the dataset
    md = (tmp_path / "cmp" / "queries.md").read_text()
    assert "Salvation Army" in md and (tmp_path / "cmp" / "queries.html").is_file()
    assert (tmp_path / "cmp" / "report.md").is_file()
    ambiguous = cli("compare", "pub:bm25", "pub:tas-b", cwd=tmp_path, data_root=data_root)
    assert ambiguous.returncode == 2 and "'pub:tas-b@dl19'" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    unknown = cli("compare", "pub:bm25", "pub:tasb", cwd=tmp_path, data_root=data_root)
    assert unknown.returncode == 2 and "did you mean 'tas-b'" in unknown.stderr
    three = cli("compare", "pub:bm25", "pub:tas-b@dl19", "pub:rm3", "--detail", "3", cwd=tmp_path,
                data_root=data_root)
    assert three.returncode == 2 and "--detail compares two systems" in three.stderr
