"""BM25 backend against real Pyserini/Anserini on real SciFact data (no mocks).

The anchor: BM25 (k1=0.9, b=0.4) over a "flat" (title + text) index must reproduce Pyserini's published
BEIR SciFact figures to 4 decimals: nDCG@10, R@100 (and RR@10) here, from the backend alone; R@1000 with
the other two through the whole pipeline in tests/test_pipeline.py (the rerun of a killed SciFact suite and
`rqbench check suites/scifact-bm25.toml`). The SciFact index is built once per session.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import ir_measures
import pytest
from ir_measures import RR, R, nDCG

from rqbench.backend import Retriever, build_params, load_backend_class, split_params
from rqbench.errors import RqbenchError
from rqbench.types import Doc, Query, sort_ranking
from rqbench_backends import bm25
from rqbench_backends.bm25 import JSON_SUBDIR, UNINDEXED_FILE, BM25Backend, BM25Params

# Pyserini's BEIR (v1.0.0) SciFact, BM25 flat: nDCG@10, R@100 (R@1000: 0.9767, checked in test_pipeline.py);
# RR@10 on the same run.
ANCHOR = {nDCG @ 10: 0.6789, R @ 100: 0.9253, RR @ 10: 0.6457}


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
    """The backend's own run, scored by ir_measures on qrels read here, to its published figures. Depth 100
    is all nDCG@10, R@100 and RR@10 read (a 1000-deep run costs ~7 s of CPU more to turn 300,000 hits into
    Python objects); R@1000 is held by the pipeline test on the same backend, at depth 1000."""
    _, _, qrels = scifact
    k = 100
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


def test_index_threads_do_not_change_results(scifact, test_queries, tmp_path):
    """`threads` is NOT_HASHED: an index built with 1 thread must give the same run as with 2 (two
    JsonCollection files, two indexing threads). Over the first 2,000 SciFact documents: two small builds
    cost less than a second full one, and every one of the 100 queries still ranks 100 documents."""
    docs, _, _ = scifact
    queries = test_queries[:100]
    runs = []
    for threads in (1, 2):
        BM25Backend(BM25Params(threads=threads)).index(docs[:2000], tmp_path / str(threads))
        runs.append(BM25Backend(BM25Params(threads=threads)).search(tmp_path / str(threads), queries, 100))
    one, two = runs
    assert all(len(ranking) == 100 for ranking in one.values())
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
    with pytest.raises(RqbenchError, match=r"^the BM25 index would hold no document: all 2 documents are empty$"):
        backend.index([Doc("a", "", " "), Doc("b", "", "")], tmp_path / "z")
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
    assert index_part == {"stemmer": "porter", "on_unindexed": "error"}
    assert "threads" not in search_part and search_part["k1"] == 0.82
    assert "java_heap" not in search_part  # memory only: never part of a hash
    assert split_params(build_params(BM25Params, {"java_heap": "1g"})) == split_params(BM25Params())
    with pytest.raises(RqbenchError, match="on_unindexed"):
        build_params(BM25Params, {"on_unindexed": "ignore"})
    with pytest.raises(RqbenchError, match=r"heap size is digits then k, m or g \(e.g. 512m, 2g\), got '2 GB'"):
        build_params(BM25Params, {"java_heap": "2 GB"})
    with pytest.raises(RqbenchError, match="stemmer"):
        build_params(BM25Params, {"stemmer": "snowball"})
    with pytest.raises(RqbenchError, match="did you mean 'k1'"):
        build_params(BM25Params, {"k2": 1.0})


def test_describe_records_versions():
    info = BM25Backend(BM25Params()).describe()
    assert info["pyserini"] == "1.6.0"
    assert info["anserini"].startswith("anserini-") and info["anserini"].endswith("-fatjar.jar")
    assert int(info["java"].split(".")[0]) >= 21


# ---- issue 7, item 4: no document is lost silently ------------------------------------------------------

HUGE_CHARS = 45_000_000  # over the 20,000,000 characters Anserini's JSON reader (Jackson) accepts
N_DOCS = 320
HUGE_AT = 159  # with threads=2 the last document of the first JsonCollection file, as in the issue


@pytest.fixture(scope="module")
def corpus_with_a_huge_document() -> list[Doc]:
    """320 short documents, each with a word of its own ("uniq17"), and one of 45 MB."""
    docs = [Doc(f"d{i}", "", f"an ordinary document number {i} uniq{i}") for i in range(N_DOCS)]
    unit = "lorem ipsum dolor sit amet "
    docs[HUGE_AT] = Doc(f"d{HUGE_AT}", "", unit * (HUGE_CHARS // len(unit)))
    return docs


def test_a_document_anserini_cannot_read_is_an_error_naming_it(corpus_with_a_huge_document, tmp_path):
    """Before: the index silently held 318 of the 320 documents (the huge one and its neighbour)."""
    with pytest.raises(RqbenchError) as err:
        BM25Backend(BM25Params(threads=2)).index(corpus_with_a_huge_document, tmp_path)
    size = len(corpus_with_a_huge_document[HUGE_AT].text)
    assert str(err.value) == (
        f"1 of 320 documents cannot be indexed: 'd{HUGE_AT}' with {size:,} characters (longer than the "
        "20,000,000 characters Anserini's JSON reader accepts); set on_unindexed = \"warn\" to build the index "
        "without them"
    )
    assert not (tmp_path / JSON_SUBDIR).exists()


def test_on_unindexed_warn_keeps_every_other_document(corpus_with_a_huge_document, tmp_path, capfd):
    params = BM25Params(threads=2, on_unindexed="warn")
    BM25Backend(params).index(corpus_with_a_huge_document, tmp_path)
    warning = [line for line in capfd.readouterr().err.splitlines() if line.startswith("rqbench: warning:")]
    assert len(warning) == 1 and f"1 of 320 documents were not indexed: 'd{HUGE_AT}' with" in warning[0]
    listing = json.loads((tmp_path / UNINDEXED_FILE).read_text(encoding="utf-8"))
    assert listing["corpus"] == N_DOCS and listing["unindexed"] == 1
    assert [d["id"] for d in listing["documents"]] == [f"d{HUGE_AT}"]
    # the neighbours are in the index (Anserini would have lost d158 with the huge one)
    queries = [Query(str(i), f"uniq{i}") for i in (0, HUGE_AT - 1, HUGE_AT + 1, N_DOCS - 1)] + [Query("x", "lorem")]
    run = BM25Backend(params).search(tmp_path, queries, 5)
    assert {q.id: [sd.docid for sd in run[q.id]] for q in queries} == {
        "0": ["d0"], str(HUGE_AT - 1): [f"d{HUGE_AT - 1}"], str(HUGE_AT + 1): [f"d{HUGE_AT + 1}"],
        str(N_DOCS - 1): [f"d{N_DOCS - 1}"], "x": [],
    }
    # an index that lacks documents is never searched under on_unindexed = "error"
    with pytest.raises(RqbenchError, match=r"unindexed.json: this index lacks 1 document \(built with"):
        BM25Backend(BM25Params()).search(tmp_path, queries, 5)


def test_documents_lost_inside_anserini_are_all_named(corpus_with_a_huge_document, tmp_path, monkeypatch):
    """The count check on its own: let the huge document reach Anserini, as before. Its JSON reader reads
    one record ahead, so the failure also takes the document before it, and the indexer thread drops the
    rest of the file; the index holds 318 of 320 documents. Both missing ids are named."""
    monkeypatch.setattr(bm25, "_json_string_limit", lambda autoclass: 10**9)
    with pytest.raises(RqbenchError) as err:
        BM25Backend(BM25Params(threads=2)).index(corpus_with_a_huge_document, tmp_path)
    assert str(err.value) == (
        f"2 of 320 documents were not indexed: 'd{HUGE_AT - 1}', 'd{HUGE_AT}' (lost by Anserini's indexer, whose "
        "log says why); set on_unindexed = \"warn\" to build the index without them"
    )
    # first in its file, it takes the whole file down: every id is named (the first ten in the message)
    huge_first = [corpus_with_a_huge_document[HUGE_AT], *corpus_with_a_huge_document[:HUGE_AT]]
    with pytest.raises(RqbenchError) as err:
        BM25Backend(BM25Params(threads=1)).index(huge_first, tmp_path / "all")
    assert str(err.value).startswith(
        f"the BM25 index would hold no document: 160 of 160 documents were not indexed: 'd{HUGE_AT}', 'd0', 'd1', "
    )
    assert str(err.value).endswith("'d8' (lost by Anserini's indexer, whose log says why); and 150 more")
    monkeypatch.undo()
    from pyserini.pyclass import autoclass

    assert bm25._json_string_limit(autoclass) == 20_000_000  # asked of the Jackson inside Anserini's jar


def test_empty_documents_are_not_counted_as_lost(tmp_path):
    """Anserini skips documents without text by design (BM25 could never retrieve them)."""
    docs = [Doc("a", "", "some text"), Doc("b", "", " \t "), Doc("c", "", "\x01"), Doc("d", "T", "")]
    BM25Backend(BM25Params(threads=1)).index(docs, tmp_path)
    assert not (tmp_path / UNINDEXED_FILE).exists()
    assert {sd.docid for sd in BM25Backend(BM25Params()).search(tmp_path, [Query("q", "t text")], 10)["q"]} == {
        "a", "d"
    }


HEAP_WARNING = ("rqbench: warning: the JVM in this process already runs with a max heap of {running}; "
                "java_heap = {asked} is ignored (a heap bound applies only before the JVM starts: set "
                "RQBENCH_JAVA_HEAP for the whole process)")


def test_java_heap_param_bounds_the_jvm_first_one_wins():
    """index() bounds the JVM it starts; a later, different java_heap is one warning line, once. index()
    and search() both call prepare_pyserini(java_heap) first; search()'s is checked in this process by
    test_search_passes_its_java_heap (a search here would import pyserini.search: ~7 s of CPU)."""
    code = (
        "import sys\n"
        "from rqbench.types import Doc\n"
        "from rqbench_backends.bm25 import BM25Backend, BM25Params\n"
        "import tempfile, pathlib\n"
        "d = pathlib.Path(tempfile.mkdtemp())\n"
        "BM25Backend(BM25Params(threads=1, java_heap='192m')).index([Doc('a', '', 'x y')], d / 'a')\n"
        "BM25Backend(BM25Params(threads=1, java_heap='512m')).index([Doc('b', '', 'x z')], d / 'b')\n"
        "BM25Backend(BM25Params(threads=1, java_heap='512m')).index([Doc('c', '', 'x w')], d / 'c')\n"
        "from jnius import autoclass\n"
        "print(autoclass('java.lang.Runtime').getRuntime().maxMemory())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RQBENCH_JAVA_HEAP"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) <= 192 * 2**20
    warnings = [line for line in done.stderr.splitlines() if line.startswith("rqbench: warning:")]
    assert warnings == [HEAP_WARNING.format(running="192m", asked="512m")]


def test_search_passes_its_java_heap(scifact_index, test_queries, capfd):
    """search() hands its java_heap to prepare_pyserini too: this process's JVM already runs (the session
    index started it), so a bound it does not run with is the one warning line, once."""
    from rqbench.javaenv import jvm_max_heap

    assert jvm_max_heap() is not None  # the fixture's index started the JVM here
    asked = "2061m"  # a bound no other test asks for, and not the one this process's JVM runs with
    capfd.readouterr()
    backend = BM25Backend(BM25Params(java_heap=asked))
    first = backend.search(scifact_index, test_queries[:3], 5)
    again = backend.search(scifact_index, test_queries[:3], 5)
    assert first == again and all(first.values())
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("rqbench: warning:")]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("rqbench: warning: the JVM in this process already runs with ")
    assert warnings[0].endswith(f"; java_heap = {asked} is ignored (a heap bound applies only before the JVM "
                                "starts: set RQBENCH_JAVA_HEAP for the whole process)")


def test_a_failed_batch_search_is_one_line_naming_the_heap():
    """A task that dies in Anserini's batch search (OutOfMemoryError under a tight java_heap: minutes of
    garbage collection first, so not reproduced here) surfaces only as a count of completed tasks."""

    class FakeJavaException(Exception):
        classname = "java.lang.RuntimeException"
        innermessage = "queryCount = 1109 is not equal to completedTaskCount =  981\nmore"

    message = bm25._search_failure(FakeJavaException(), 1109, 1000)
    assert message.startswith(
        "Anserini's batch search of 1109 queries (k=1000) failed: java.lang.RuntimeException: queryCount = 1109 "
        "is not equal to completedTaskCount =  981; if the JVM ran out of memory (max heap "
    )
    assert message.endswith("raise java_heap or $RQBENCH_JAVA_HEAP, or search fewer queries at once")
    assert "\n" not in message
