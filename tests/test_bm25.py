"""BM25 backend against real Pyserini/Anserini on real SciFact data (no mocks).

The anchor: BM25 (k1=0.9, b=0.4) over a "flat" (title + text) index must reproduce Pyserini's published
BEIR SciFact figures to 4 decimals. The SciFact index is built once per session.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import ir_measures
import pytest
from ir_measures import RR, R, nDCG

from rqbench.backend import Retriever, build_params, load_backend_class, split_params
from rqbench.errors import RqbenchError
from rqbench.types import Doc, Query, sort_ranking
from rqbench_backends.bm25 import JSON_SUBDIR, BM25Backend, BM25Params

# Pyserini's BEIR (v1.0.0) SciFact, BM25 flat: nDCG@10, R@100, R@1000; RR@10 on the same run.
ANCHOR = {nDCG @ 10: 0.6789, R @ 100: 0.9253, R @ 1000: 0.9767, RR @ 10: 0.6457}


def _read_scifact(root: Path) -> tuple[list[Doc], dict[str, Query], dict[str, dict[str, int]]]:
    with (root / "corpus.jsonl").open(encoding="utf-8") as fh:
        docs = [Doc(o["_id"], o.get("title", ""), o["text"]) for o in map(json.loads, fh)]
    with (root / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = {o["_id"]: Query(o["_id"], o["text"]) for o in map(json.loads, fh)}
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / "test.tsv").open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        next(rows)  # header: query-id corpus-id score
        for qid, docid, score in rows:
            qrels.setdefault(qid, {})[docid] = int(score)
    return docs, queries, qrels


@pytest.fixture(scope="session")
def scifact(data_root: Path):
    return _read_scifact(data_root / "scifact")


@pytest.fixture(scope="session")
def test_queries(scifact) -> list[Query]:
    _, queries, qrels = scifact
    return [queries[qid] for qid in qrels]


@pytest.fixture(scope="session")
def scifact_index(scifact, tmp_path_factory) -> Path:
    docs, _, _ = scifact
    workdir = tmp_path_factory.mktemp("bm25") / "index"
    workdir.mkdir()
    BM25Backend(BM25Params()).index(docs, workdir)
    return workdir


@pytest.mark.slow
def test_scifact_reproduces_pyserini_beir_figures(scifact, test_queries, scifact_index):
    _, _, qrels = scifact
    k = 1000
    assert len(test_queries) == 300
    run = BM25Backend(BM25Params(k1=0.9, b=0.4)).search(scifact_index, test_queries, k + 1)
    # BEIR convention: a query never retrieves itself
    run = {qid: [sd for sd in ranking if sd.docid != qid][:k] for qid, ranking in run.items()}
    assert set(run) == {q.id for q in test_queries}
    measured = ir_measures.calc_aggregate(
        list(ANCHOR), qrels, {qid: {sd.docid: sd.score for sd in r} for qid, r in run.items()}
    )
    for measure, expected in ANCHOR.items():
        assert abs(measured[measure] - expected) < 5e-5, (measure, measured[measure], expected)


def test_index_lands_inside_workdir(scifact_index: Path):
    assert list(scifact_index.glob("segments_*"))
    assert not (scifact_index / JSON_SUBDIR).exists()  # the temporary JsonCollection is gone
    assert [p.name for p in scifact_index.parent.iterdir()] == [scifact_index.name]  # nothing beside it
    assert all(p.is_file() for p in scifact_index.iterdir())


def test_k10_returns_at_most_10_sorted(test_queries, scifact_index):
    queries = test_queries[:50]
    run = BM25Backend(BM25Params()).search(scifact_index, queries, 10)
    assert list(run) == [q.id for q in queries]
    for ranking in run.values():
        assert 0 < len(ranking) <= 10
        assert ranking == sort_ranking(ranking)
        assert len({sd.docid for sd in ranking}) == len(ranking)


def test_rm3_changes_the_run(test_queries, scifact_index):
    queries = test_queries[:30]
    plain = BM25Backend(BM25Params()).search(scifact_index, queries, 100)
    rm3 = BM25Backend(BM25Params(rm3=True, fb_terms=10, fb_docs=10)).search(scifact_index, queries, 100)
    assert set(rm3) == set(plain)
    assert sum(plain[q.id] != rm3[q.id] for q in queries) >= len(queries) // 2
    assert all(len(r) <= 100 and r == sort_ranking(r) for r in rm3.values())


def test_queries_without_hits_map_to_empty_lists(scifact_index):
    queries = [Query("empty", ""), Query("stop", "the of and"), Query("nonsense", 'zqxjkv "( AND : * ?')]
    run = BM25Backend(BM25Params()).search(scifact_index, queries, 10)
    assert run == {"empty": [], "stop": [], "nonsense": []}


def test_index_threads_do_not_change_results(scifact, test_queries, scifact_index, tmp_path):
    """`threads` is NOT_HASHED: an index built with 1 thread must give the same run as with 2."""
    docs, _, _ = scifact
    BM25Backend(BM25Params(threads=1)).index(docs, tmp_path)
    queries = test_queries[:100]
    one = BM25Backend(BM25Params(threads=1)).search(tmp_path, queries, 100)
    two = BM25Backend(BM25Params(threads=2)).search(scifact_index, queries, 100)
    assert one == two


def test_stemmer_applies_to_index_and_queries(tmp_path):
    docs = [Doc("a", "", "dogs running fast"), Doc("b", "Run", "a dog")]
    queries = [Query("q", "runs")]
    for stemmer, expected in (("porter", {"a", "b"}), ("none", set())):
        workdir = tmp_path / stemmer
        backend = BM25Backend(BM25Params(stemmer=stemmer, threads=1))
        backend.index(docs, workdir)
        assert {sd.docid for sd in backend.search(workdir, queries, 10)["q"]} == expected
    assert [sd.docid for sd in backend.search(workdir, [Query("q", "dogs")], 10)["q"]] == ["a"]


def test_errors_are_one_line_rqbench_errors(tmp_path):
    backend = BM25Backend(BM25Params())
    with pytest.raises(RqbenchError, match="no Lucene index"):
        backend.search(tmp_path, [Query("1", "x")], 10)
    with pytest.raises(RqbenchError, match="empty corpus"):
        backend.index([], tmp_path / "x")
    with pytest.raises(RqbenchError, match="document id 'd' appears twice"):
        backend.index([Doc("d", "", "x"), Doc("d", "", "y")], tmp_path / "y")


def test_duplicate_query_ids_are_rejected(scifact_index):
    with pytest.raises(RqbenchError, match="query id '7' appears twice"):
        BM25Backend(BM25Params()).search(scifact_index, [Query("7", "a"), Query("7", "b")], 10)


def test_importing_the_module_starts_no_jvm():
    code = (
        "import sys, jnius_config, rqbench_backends.bm25 as m; m.BM25Backend().describe(); "
        "print(jnius_config.vm_running, 'pyserini.pyclass' in sys.modules, 'jnius' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "False", "False"]


def test_params_and_protocol():
    cls = load_backend_class("bm25")
    assert cls is BM25Backend and cls.name == "bm25" and cls.Params is BM25Params
    assert isinstance(BM25Backend(BM25Params()), Retriever)
    params = build_params(BM25Params, {"k1": 0.82, "b": 0.68, "threads": 4})
    index_part, search_part = split_params(params)
    assert index_part == {"stemmer": "porter"}
    assert "threads" not in search_part and search_part["k1"] == 0.82
    with pytest.raises(RqbenchError, match="stemmer"):
        build_params(BM25Params, {"stemmer": "snowball"})
    with pytest.raises(RqbenchError, match="did you mean 'k1'"):
        build_params(BM25Params, {"k2": 1.0})


def test_describe_records_versions():
    info = BM25Backend(BM25Params()).describe()
    assert info["pyserini"] == "1.6.0"
    assert info["anserini"].startswith("anserini-") and info["anserini"].endswith("-fatjar.jar")
    assert int(info["java"].split(".")[0]) >= 21
