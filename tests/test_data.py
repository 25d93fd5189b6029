"""Dataset loading: real folders under data_root, split naming, fingerprints, warnings, every bad input."""

from __future__ import annotations

import sys
import time
import types
from collections import namedtuple
from pathlib import Path

import pytest

from rqbench.data import format_inspection, inspect_dataset, load_dataset, resolve_data_root
from rqbench.data.layout import CORPUS_NAMES
from rqbench.errors import RqbenchError

# folder -> (documents, {split: (queries, judgements)}), from the data README
EXPECTED = {
    "scifact": (5183, {"train": (809, 919), "test": (300, 339), "unlabeled": (300, 0)}),
    "msmarco-dl19": (31362, {"dl19": (43, 9260)}),
    "msmarco-dl19-mini": (1033, {"test": (10, 892)}),
    "vaswani": (11429, {"test": (93, 2083)}),
    "noveleval": (420, {"test": (21, 420)}),
}


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def judged(ds, split: str) -> int:
    return sum(len(docs) for docs in ds.qrels.get(split, {}).values())


# ------------------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def real(data_root: Path) -> dict:
    """Every folder of data_root that has a corpus, loaded once by short name."""
    names = sorted(
        p.name
        for p in data_root.iterdir()
        if any((p / name).is_file() for group in CORPUS_NAMES.values() for name in group)
    )
    return {name: load_dataset(name, data_root) for name in names}


def test_every_corpus_folder_loads(real: dict) -> None:
    assert set(EXPECTED) <= set(real)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_counts_and_splits(real: dict, name: str) -> None:
    n_docs, splits = EXPECTED[name]
    ds = real[name]
    assert ds.name == name
    assert len(ds.corpus) == n_docs
    assert ds.splits == sorted(splits)
    for split, (n_queries, n_judged) in splits.items():
        assert len(ds.queries[split]) == n_queries, split
        assert judged(ds, split) == n_judged, split


def test_scifact_splits(real: dict) -> None:
    ds = real["scifact"]
    assert "unlabeled" not in ds.qrels
    assert set(ds.queries["test"]) == set(ds.qrels["test"])
    assert not set(ds.queries["train"]) & set(ds.queries["test"])
    doc = next(iter(ds.corpus.values()))
    assert doc.title and doc.text
    assert ds.warnings == []


def test_dl19_documents_outside_the_pool_are_a_counted_warning(real: dict, data_root: Path) -> None:
    folder = data_root / "msmarco-dl19"
    corpus_ids = {line.split("\t", 1)[0] for line in (folder / "collection.tsv").open(encoding="utf-8")}
    outside = [
        line.split()
        for line in (folder / "qrels.dl19.txt").open(encoding="utf-8")
        if line.split()[2] not in corpus_ids
    ]
    assert outside, "the README says non-relevant judged passages are outside the pool"
    ds = real["msmarco-dl19"]
    (warning,) = [w for w in ds.warnings if "not in the corpus" in w]
    n_docs = len({parts[2] for parts in outside})
    assert warning.startswith(f"qrels.dl19.txt: {len(outside)} judgements (0 of them relevant) name {n_docs} ")
    assert judged(ds, "dl19") == 9260  # kept, not dropped


def test_noveleval_quoted_text_with_tabs(real: dict) -> None:
    doc = real["noveleval"].corpus["14-17"]
    assert doc.text.startswith("Top earning footballers") and "\t" in doc.text


def test_vaswani_sgml(real: dict) -> None:
    ds = real["vaswani"]
    assert ds.corpus["1"].text.startswith("compact memories have flexible capacities a digital data storage")
    assert ds.queries["test"]["1"].text == (
        "MEASUREMENT OF DIELECTRIC CONSTANT OF LIQUIDS BY THE USE OF MICROWAVE TECHNIQUES"
    )


def test_real_load_times(data_root: Path) -> None:
    for name in ("msmarco-dl19", "scifact"):
        start = time.perf_counter()
        load_dataset(data_root / name)
        assert time.perf_counter() - start < 2.0, name


def test_folder_without_corpus(data_root: Path) -> None:
    with pytest.raises(RqbenchError, match="no corpus file in this folder"):
        load_dataset("msmarco-triples", data_root)


def test_inspect_and_format(data_root: Path) -> None:
    info = inspect_dataset("msmarco-dl19-mini", data_root)
    assert info["name"] == "msmarco-dl19-mini" and info["format"] == "tsv" and info["n_docs"] == 1033
    assert info["splits"]["test"]["queries"] == 10 and info["splits"]["test"]["judgements"] == 892
    assert 0 < info["splits"]["test"]["relevant"] <= 892
    assert set(info["fingerprints"]) == {"corpus", "queries/test", "qrels/test"}
    text = format_inspection(info)
    assert "1,033" in text and "msmarco-dl19-mini" in text and "warnings: none" in text


# ---------------------------------------------------------------------------------- names and roots


def test_short_name_and_unknown_name(data_root: Path) -> None:
    ds = load_dataset("msmarco-dl19-mini", data_root)
    assert Path(ds.source) == (data_root / "msmarco-dl19-mini").resolve()
    with pytest.raises(RqbenchError) as err:
        load_dataset("scifakt", data_root, where="suites/x.toml")
    assert str(err.value) == "suites/x.toml: unknown dataset 'scifakt' (did you mean 'scifact'?)"


def test_unknown_name_without_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RqbenchError, match="unknown dataset 'nosuchset' \\(no data folder"):
        load_dataset("nosuchset", None)


def test_resolve_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = tmp_path.resolve()
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("RQBENCH_DATA", raising=False)
    assert resolve_data_root() is None
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert resolve_data_root() == tmp_path / "shared" / "data"
    (work / "data").mkdir()
    assert resolve_data_root() == work / "data"
    (tmp_path / "env").mkdir()
    monkeypatch.setenv("RQBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    (tmp_path / "cli").mkdir()
    assert resolve_data_root(str(tmp_path / "cli")) == tmp_path / "cli"
    with pytest.raises(RqbenchError, match="--data-root is not a folder"):  # named explicitly: no fallback
        resolve_data_root(str(tmp_path / "missing"))


def test_irds_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ir_datasets", None)  # makes `import ir_datasets` fail
    with pytest.raises(RqbenchError) as err:
        load_dataset("beir/scifact/test", None)
    assert str(err.value) == "ir_datasets is not installed: pip install 'rqbench[irds]'"


def test_irds_mapping_with_a_stand_in_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """ir_datasets is not installed here; a stand-in with its record shapes checks the mapping."""
    D, Q, R = (
        namedtuple("D", "doc_id title text"),
        namedtuple("Q", "query_id text"),
        namedtuple("R", "query_id doc_id relevance iteration"),
    )
    ds = types.SimpleNamespace(
        has_docs=lambda: True,
        has_queries=lambda: True,
        has_qrels=lambda: True,
        docs_iter=lambda: iter([D("d1", "T", "one"), D("d2", "", "two")]),
        queries_iter=lambda: iter([Q("q1", "first")]),
        qrels_iter=lambda: iter([R("q1", "d1", 2, "0"), R("q1", "d9", 0, "0")]),
    )
    fake = types.SimpleNamespace(load=lambda name: ds if name == "beir/x/test" else {}[name])
    monkeypatch.setitem(sys.modules, "ir_datasets", fake)
    got = load_dataset({"path": "beir/x/test", "format": "irds"})
    assert got.corpus["d1"].title == "T" and got.splits == ["test"]
    assert got.qrels["test"] == {"q1": {"d1": 2, "d9": 0}}
    assert any("1 document not in the corpus" in w for w in got.warnings)
    with pytest.raises(RqbenchError, match="unknown ir_datasets id 'beir/y/test'"):
        load_dataset("beir/y/test")


# ------------------------------------------------------------------------------ small temp datasets

TSV = {
    "corpus.tsv": "d1\tfirst document\nd2\tsecond document\nd3\tthird document\n",
    "queries.tsv": "q1\tfirst query\nq2\tsecond query\n",
    "qrels.txt": "q1 0 d1 1\nq2 0 d2 1\n",
}
BEIR = {
    "corpus.jsonl": '{"_id": "d1", "title": "A", "text": "first"}\n{"_id": "d2", "title": "", "text": "second"}\n',
    "queries.jsonl": '{"_id": "q1", "text": "first query"}\n{"_id": "q2", "text": "second query"}\n',
    "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
    "qrels/train.tsv": "query-id\tcorpus-id\tscore\nq2\td2\t1\n",
}
TREC = {
    "docs.trec": "<DOC>\n<DOCNO>d1</DOCNO>\nfirst\ndocument\n</DOC>\n<DOC>\n<DOCNO>d2</DOCNO>\nsecond\n</DOC>\n",
    "queries.trec": "<top>\n<num>1</num><title>\nfirst query\n</title>\n</top>\n",
    "qrels.txt": "1 0 d1 1\n",
}


def test_tsv_split_names(tmp_path: Path) -> None:
    write(tmp_path, {**TSV, "queries.tsv": TSV["queries.tsv"], "queries.dev.tsv": "q9\tnine\n"})
    write(tmp_path, {"qrels.dev.txt": "q9 0 d3 2\n", "runs/bm25.dev.trec": "junk", "bm25.trec": "junk"})
    ds = load_dataset(tmp_path)
    assert ds.splits == ["dev", "test"] and ds.qrels["dev"] == {"q9": {"d3": 2}}


def test_beir_split_names(tmp_path: Path) -> None:
    write(tmp_path, {**BEIR, "queries.extra.jsonl": '{"_id": "x1", "text": "unjudged"}\n'})
    ds = load_dataset(tmp_path)
    assert ds.splits == ["extra", "test", "train"]
    assert list(ds.queries["test"]) == ["q1"] and list(ds.queries["train"]) == ["q2"]
    assert "extra" not in ds.qrels and ds.corpus["d1"].title == "A"


def test_trec_classic_topics(tmp_path: Path) -> None:
    topics = "<top>\n<num> Number: 301\n<title> International Organized Crime\n<desc> Description:\nx\n</top>\n"
    write(tmp_path, {**TREC, "queries.trec": topics, "qrels.txt": "301 0 d2 1\n"})
    ds = load_dataset(tmp_path)
    assert ds.queries["test"]["301"].text == "International Organized Crime"
    assert ds.corpus["d1"].text == "first document"


def test_three_column_tsv_and_header(tmp_path: Path) -> None:
    write(tmp_path, {**TSV, "corpus.tsv": "id\ttitle\ttext\nd1\tT1\tone\nd2\t\ttwo\n", "qrels.txt": "q1 d1 1\n"})
    ds = load_dataset(tmp_path)
    assert ds.corpus["d1"].title == "T1" and ds.corpus["d2"].text == "two" and len(ds.corpus) == 2


def test_suite_table_with_explicit_files(tmp_path: Path) -> None:
    write(tmp_path / "d", {"docs.tsv": TSV["corpus.tsv"], "q.tsv": "q1\tquery\n", "j.txt": "q1 0 d1 1\n"})
    write(tmp_path, {"suite.toml": ""})
    spec = {"path": "d", "format": "tsv", "name": "mine", "corpus": "docs.tsv"}
    spec |= {"queries": {"dev": "q.tsv"}, "qrels": {"dev": "j.txt"}}
    ds = load_dataset(spec, where=str(tmp_path / "suite.toml"))
    assert ds.name == "mine" and ds.splits == ["dev"] and len(ds.corpus) == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"path": "d", "qrel": {}}, "suite.toml: unknown dataset key 'qrel' (did you mean 'qrels'?)"),
        ({"path": "d", "format": "bier"}, "suite.toml: unknown dataset format 'bier' (did you mean 'beir'?)"),
        ({"format": "tsv"}, "suite.toml: dataset table needs 'path'"),
        ({"path": "d", "queries": "q.tsv"}, "suite.toml: dataset 'queries' must be a table of split = file"),
        ({"path": "nowhere"}, "suite.toml: dataset folder 'nowhere' not found"),
    ],
)
def test_bad_suite_tables(tmp_path: Path, spec: dict, message: str) -> None:
    write(tmp_path / "d", TSV)
    with pytest.raises(RqbenchError) as err:
        load_dataset(spec, where=str(tmp_path / "suite.toml"))
    assert str(err.value).startswith(str(tmp_path / message))


def test_warnings_are_counted(tmp_path: Path) -> None:
    write(tmp_path, {**TSV, "corpus.tsv": TSV["corpus.tsv"] + "d4\t \n"})
    write(tmp_path, {"qrels.txt": "q1 0 d1 1\nq1 0 d8 0\nq1 0 d9 1\nq7 0 d1 1\nq7 0 d2 0\n"})
    ds = load_dataset(tmp_path)
    assert ds.warnings == [
        "corpus.tsv: 1 document with empty title and text (kept)",
        "qrels.txt: 2 judgements for 1 query ids with no query text in queries.tsv were dropped",
        "qrels.txt: 2 judgements (1 of them relevant) name 2 documents not in the corpus (kept: judged "
        "documents outside a pooled corpus are normal, e.g. TREC DL)",
        "queries.tsv: 1 of 2 queries have no judgements in qrels.txt (kept; measures skip them)",
    ]
    assert ds.qrels["test"] == {"q1": {"d1": 1, "d8": 0, "d9": 1}}
    assert "d4" in ds.corpus


def test_fingerprints(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write(a, TSV)
    parts = ("corpus", "queries/test", "qrels/test")
    first = [load_dataset(a).fingerprint(p) for p in parts]
    assert [load_dataset(a).fingerprint(p) for p in parts] == first
    write(b, {**TSV, "corpus.tsv": TSV["corpus.tsv"].replace("second", "secund")})
    changed = [load_dataset(b).fingerprint(p) for p in parts]
    assert changed[0] != first[0] and changed[1:] == first[1:]
    # the same content in BEIR form hashes the same: fingerprints are of content, not files
    beir = {
        "corpus.jsonl": "".join(
            f'{{"_id": "d{i}", "text": "{w} document"}}\n' for i, w in enumerate(["first", "second", "third"], 1)
        ),
        "queries.jsonl": '{"_id": "q1", "text": "first query"}\n{"_id": "q2", "text": "second query"}\n',
        "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n",
    }
    write(c, beir)
    assert [load_dataset(c).fingerprint(p) for p in parts] == first


# ------------------------------------------------------------------------------------- bad inputs

# case -> (base layout, files written over it, file named in the message, line or None, words in it)
DOC = "<DOC>\n<DOCNO>{}</DOCNO>\n{}\n</DOC>\n"
BAD = {
    "missing explicit file": (TSV, {}, "nope.tsv", None, "file not found"),
    "no corpus in folder": ({"queries.tsv": "q1\tx\n"}, {}, "", None, "no corpus file"),
    "tsv doc columns": (
        TSV, {"corpus.tsv": "d1\tone\nd2\ttwo\nd3 three\n"}, "corpus.tsv", 3, "expected 2 columns"
    ),
    "tsv doc 4 columns": (TSV, {"corpus.tsv": "d1\ta\tb\tc\n"}, "corpus.tsv", 1, "found 4"),
    "tsv doc 3 then 2": (TSV, {"corpus.tsv": "d1\tT\ta\nd2\tb\n"}, "corpus.tsv", 2, "as on line 1"),
    "tsv query columns": (TSV, {"queries.tsv": "q1\tx\nq2\tx\ty\n"}, "queries.tsv", 2, "expected 2 columns"),
    "qrels columns": (TSV, {"qrels.txt": "q1 0 d1 1\nq2 d2\n"}, "qrels.txt", 2, "expected 4 columns"),
    "invalid json": (
        BEIR, {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"_id": "d2", \n'}, "corpus.jsonl", 2, "invalid JSON"
    ),
    "json not object": (BEIR, {"queries.jsonl": '["q1", "x"]\n'}, "queries.jsonl", 1, "expected a JSON object"),
    "json no _id": (
        BEIR,
        {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n\n{"id": "d2", "text": "b"}\n'},
        "corpus.jsonl",
        3,
        "missing '_id'",
    ),
    "json no text": (BEIR, {"queries.jsonl": '{"_id": "q1"}\n'}, "queries.jsonl", 1, "missing 'text'"),
    "json text not a string": (
        BEIR, {"corpus.jsonl": '{"_id": "d1", "text": 5}\n'}, "corpus.jsonl", 1, "'text' must be a string"
    ),
    "duplicate doc tsv": (
        TSV, {"corpus.tsv": "d1\ta\nd2\tb\nd3\tc\nd2\td\n"}, "corpus.tsv", 4, "duplicate document id 'd2'"
    ),
    "duplicate doc jsonl": (
        BEIR,
        {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n'},
        "corpus.jsonl",
        2,
        "duplicate document id 'd1'",
    ),
    "duplicate doc sgml": (
        TREC, {"docs.trec": DOC.format("d1", "a") + DOC.format("d1", "b")}, "docs.trec", 6, "duplicate document"
    ),
    "duplicate query": (TSV, {"queries.tsv": "q1\tx\nq2\ty\nq1\tz\n"}, "queries.tsv", 3, "duplicate query id"),
    "duplicate query jsonl": (
        BEIR,
        {"queries.jsonl": '{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n'},
        "queries.jsonl",
        2,
        "duplicate query id 'q1'",
    ),
    "non utf-8": (TSV, {"corpus.tsv": b"d1\tok\nd2\tcaf\xe9\n"}, "corpus.tsv", 2, "not valid UTF-8 (byte 0xe9)"),
    "non utf-8 qrels": (TSV, {"qrels.txt": b"q1 0 d1 1\nq2 0 d\xff 1\n"}, "qrels.txt", 2, "not valid UTF-8"),
    "empty query tsv": (TSV, {"queries.tsv": "q1\tx\nq2\t  \n"}, "queries.tsv", 2, "query 'q2' has an empty text"),
    "empty query jsonl": (
        BEIR,
        {"queries.jsonl": '{"_id": "q1", "text": "x"}\n{"_id": "q2", "text": ""}\n'},
        "queries.jsonl",
        2,
        "empty text",
    ),
    "empty query sgml": (
        TREC, {"queries.trec": "<top>\n<num>1</num>\n<title>\n\n</title>\n</top>\n"}, "queries.trec", 3, "empty"
    ),
    "relevance not a number": (
        TSV, {"qrels.txt": "q1 0 d1 1\nq2 0 d2 high\n"}, "qrels.txt", 2, "relevance 'high' is not a number"
    ),
    "empty corpus": (TSV, {"corpus.tsv": "\n\n"}, "corpus.tsv", None, "corpus is empty"),
    "unclosed doc": (
        TREC, {"docs.trec": DOC.format("d1", "a") + "<DOC>\n<DOCNO>d2</DOCNO>\n"}, "docs.trec", 5, "never closed"
    ),
    "doc without docno": (TREC, {"docs.trec": "<DOC>\ntext only\n</DOC>\n"}, "docs.trec", 1, "without a <DOCNO>"),
    "qrels ids match no query": (TSV, {"qrels.txt": "x1 0 d1 1\n"}, "qrels.txt", None, "none of the 1 judged"),
    "qrels split without queries": (TSV, {"qrels.dev.txt": "q1 0 d1 1\n"}, "qrels.dev.txt", None, "split 'dev'"),
    # issue 7, item 3: an id with whitespace would break every run written with it
    "space in jsonl doc id": (
        BEIR,
        {"corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"_id": "d 2", "text": "b"}\n'},
        "corpus.jsonl",
        2,
        "document id 'd 2' contains whitespace",
    ),
    "tab in jsonl doc id": (
        BEIR, {"corpus.jsonl": '{"_id": "d\\t1", "text": "a"}\n'}, "corpus.jsonl", 1, "document id 'd\\t1' contains"
    ),
    "newline in jsonl doc id": (
        BEIR, {"corpus.jsonl": '{"_id": "d\\n1", "text": "a"}\n'}, "corpus.jsonl", 1, "document id 'd\\n1' contains"
    ),
    "no-break space in jsonl doc id": (
        BEIR, {"corpus.jsonl": '{"_id": "d\\u00a01", "text": "a"}\n'}, "corpus.jsonl", 1, "'d\\xa01' contains"
    ),
    "empty jsonl doc id": (
        BEIR, {"corpus.jsonl": '{"_id": " ", "text": "a"}\n'}, "corpus.jsonl", 1, "empty document id"
    ),
    "space in jsonl query id": (
        BEIR,
        {"queries.jsonl": '{"_id": "q1", "text": "a"}\n{"_id": "q 2", "text": "b"}\n'},
        "queries.jsonl",
        2,
        "query id 'q 2' contains whitespace",
    ),
    "space in tsv doc id": (
        TSV, {"corpus.tsv": "d1\tone\nd 2\ttwo\n"}, "corpus.tsv", 2, "document id 'd 2' contains whitespace"
    ),
    "space in 3-column tsv doc id": (
        TSV, {"corpus.tsv": "d 1\tT\tone\n"}, "corpus.tsv", 1, "document id 'd 1' contains whitespace"
    ),
    "space in tsv query id": (
        TSV, {"queries.tsv": "q1\tx\nq 2\ty\n"}, "queries.tsv", 2, "query id 'q 2' contains whitespace"
    ),
    "space in sgml docno": (
        TREC, {"docs.trec": DOC.format("d1", "a") + DOC.format("d 2", "b")}, "docs.trec", 6, "document id 'd 2'"
    ),
    "space in trec qrels doc id": (
        TSV, {"qrels.txt": "q1 0 d1 1\nq2\t0\td 2\t1\n"}, "qrels.txt", 2, "document id 'd 2' contains whitespace"
    ),
    "space in beir qrels query id": (
        BEIR,
        {"qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq 1\td2\t1\n"},
        "qrels/test.tsv",
        3,
        "query id 'q 1' contains whitespace",
    ),
    "space in trec qrels, space-separated": (
        TSV, {"qrels.txt": "q1 0 d 1 1\n"}, "qrels.txt", 1, "found 5 (does an id contain whitespace?)"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_and_line(tmp_path: Path, case: str) -> None:
    base, overrides, name, line, words = BAD[case]
    folder = write(write(tmp_path / "ds", base), overrides)
    spec = {"path": str(folder), "corpus": "nope.tsv"} if case == "missing explicit file" else folder
    with pytest.raises(RqbenchError) as err:
        load_dataset(spec)
    message = str(err.value)
    where = str(folder / name) if name else str(folder)
    assert message.startswith(f"{where}:{line}: " if line else f"{where}: "), message
    assert words in message and "\n" not in message


def test_run_with_whitespace_in_an_id_is_refused_on_read(tmp_path: Path) -> None:
    """A tab-separated run keeps 6 tab columns, so the id with the space is named; a space-separated one
    has 7 columns, and the message says why that may be."""
    from rqbench.types import read_trec_run

    tabbed = tmp_path / "tabbed.trec"
    tabbed.write_text("q1\tQ0\td1\t1\t2.0\tt\nq1\tQ0\td 2\t2\t1.0\tt\n", encoding="utf-8")
    with pytest.raises(RqbenchError) as err:
        read_trec_run(tabbed)
    assert str(err.value) == f"{tabbed}:2: document id 'd 2' contains whitespace"
    spaced = tmp_path / "spaced.trec"
    spaced.write_text("q1 Q0 d1 1 2.0 t\nq 1 Q0 d2 1 1.0 t\n", encoding="utf-8")
    with pytest.raises(RqbenchError) as err:
        read_trec_run(spaced)
    assert str(err.value).startswith(f"{spaced}:2: expected 6 columns")
    assert "does an id contain whitespace?" in str(err.value)


@pytest.mark.parametrize(
    ("run", "tag", "words"),
    [
        ({"q1": [("d1", 2.0), ("d 2", 1.0)]}, "t", "document id 'd 2' contains whitespace (retrieved for query 'q1')"),
        ({"q1": [("d1", 2.0), ("d\t2", 1.0)]}, "t", "document id 'd\\t2' contains whitespace (retrieved for"),
        ({"q 1": [("d1", 2.0)]}, "t", "query id 'q 1' contains whitespace"),
        ({"q1": [("", 2.0)]}, "t", "empty document id (retrieved for query 'q1')"),
        ({"q1": [("d1", 2.0)]}, "my tag", "the tag 'my tag' is empty or contains whitespace"),
    ],
)
def test_write_trec_run_refuses_an_id_with_whitespace(tmp_path: Path, run: dict, tag: str, words: str) -> None:
    """Before issue 7 this wrote a 7-column line, and every later read of the stored run failed."""
    from rqbench.types import ScoredDoc, read_trec_run, write_trec_run

    path = tmp_path / "run.trec"
    with pytest.raises(RqbenchError) as err:
        write_trec_run({qid: [ScoredDoc(d, s) for d, s in docs] for qid, docs in run.items()}, path, tag=tag)
    assert str(err.value).startswith(f"{path}: cannot write the run: {words}") and "\n" not in str(err.value)
    assert not path.exists() and list(tmp_path.iterdir()) == []  # nothing written, no temporary left
    write_trec_run({"q1": [ScoredDoc("d1", 2.0), ScoredDoc("d2", 1.0)]}, path, tag="t")
    assert [sd.docid for sd in read_trec_run(path)["q1"]] == ["d1", "d2"]


def test_ids_from_ir_datasets_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """No file and line to name for a catalogue's data: the dataset id is named instead."""
    D, Q, R = (
        namedtuple("D", "doc_id title text"),
        namedtuple("Q", "query_id text"),
        namedtuple("R", "query_id doc_id relevance iteration"),
    )
    ds = types.SimpleNamespace(
        has_docs=lambda: True,
        has_queries=lambda: True,
        has_qrels=lambda: True,
        docs_iter=lambda: iter([D("d1", "T", "one"), D("d 2", "", "two")]),
        queries_iter=lambda: iter([Q("q1", "first")]),
        qrels_iter=lambda: iter([R("q1", "d1", 2, "0")]),
    )
    monkeypatch.setitem(sys.modules, "ir_datasets", types.SimpleNamespace(load=lambda name: ds))
    with pytest.raises(RqbenchError) as err:
        load_dataset({"path": "beir/x/test", "format": "irds"})
    assert str(err.value) == "beir/x/test: document id 'd 2' contains whitespace"


def test_well_known_name_falls_back_to_ir_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not under the data root: a well-known name is an ir_datasets id (downloaded where there is internet)."""
    monkeypatch.setitem(sys.modules, "ir_datasets", None)  # this machine has neither ir_datasets nor internet
    with pytest.raises(RqbenchError) as err:
        load_dataset("scifact", tmp_path)
    assert "ir_datasets id 'beir/scifact/test'" in str(err.value)


def test_irds_grades_outside_the_range_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The qrels file readers refuse grades past -65535..65535 (pytrec_eval overflows); qrels read through
    ir_datasets are held to the same range (issue 20 review)."""
    Q, R = namedtuple("Q", "query_id text"), namedtuple("R", "query_id doc_id relevance iteration")
    ds = types.SimpleNamespace(
        has_docs=lambda: False, has_queries=lambda: True, has_qrels=lambda: True,
        queries_iter=lambda: iter([Q("q1", "first")]),
        qrels_iter=lambda: iter([R("q1", "d1", 1, "0"), R("q1", "d2", 4294967296, "0")]),
    )
    monkeypatch.setitem(sys.modules, "ir_datasets", types.SimpleNamespace(load=lambda name: ds))
    from rqbench.data.irds import irds_qrels

    with pytest.raises(RqbenchError) as err:
        irds_qrels("msmarco-passage/x", "x")
    assert str(err.value) == ("msmarco-passage/x: relevance 4294967296 of query 'q1', document 'd2' is outside "
                              "the accepted range -65535..65535")
