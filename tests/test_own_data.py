"""Your own data (issue 8): gzipped files read like plain ones, `data inspect` lists every problem and the
accepted file names, qrels named by dataset, and a wrong split is one line naming the splits there are."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import types
from collections import namedtuple
from pathlib import Path

import pytest

import rqbench.data
from rqbench.data import format_inspection, inspect_dataset, load_dataset
from rqbench.errors import RqbenchError
from rqbench.types import read_qrels, read_trec_run

TSV = {
    "corpus.tsv": "d1\tfirst document\nd2\tsecond document\nd3\tthird document\n",
    "queries.tsv": "q1\tfirst query\nq2\tsecond query\n",
    "queries.dev.tsv": "q3\tthird query\n",
    "qrels.txt": "q1 0 d1 1\nq2 0 d2 2\n",
    "qrels.dev.txt": "q3 0 d3 1\n",
}
BEIR = {
    "corpus.jsonl": '{"_id": "d1", "title": "A", "text": "first"}\n{"_id": "d2", "text": "second"}\n',
    "queries.jsonl": '{"_id": "q1", "text": "first query"}\n{"_id": "q2", "text": "second query"}\n',
    "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
    "qrels/train.tsv": "query-id\tcorpus-id\tscore\nq2\td2\t1\n",
}
TREC = {
    "docs.trec": "<DOC>\n<DOCNO>d1</DOCNO>\nfirst\n</DOC>\n<DOC>\n<DOCNO>d2</DOCNO>\nsecond\n</DOC>\n",
    "queries.trec": "<top>\n<num>1</num><title>\nfirst query\n</title>\n</top>\n",
    "qrels.txt": "1 0 d1 1\n",
}
RUN = "q1 Q0 d1 1 2.5 t\nq1 Q0 d2 2 1.5 t\nq2 Q0 d2 1 0.5 t\n"


def write(folder: Path, files: dict[str, str | bytes], gz: bool = False) -> Path:
    """The files under `folder`; with `gz`, each one gzipped and named NAME.gz."""
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = folder / (name + ".gz" if gz else name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return folder


def gzip_copy(source: Path, target: Path) -> Path:
    """A copy of the dataset folder `source` with every file gzipped (NAME -> NAME.gz)."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            out = target / (path.relative_to(source).as_posix() + ".gz")
            out.parent.mkdir(parents=True, exist_ok=True)
            with path.open("rb") as src, gzip.open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return target


def fingerprints(spec: str | Path, data_root: Path | None = None) -> dict[str, str]:
    ds = load_dataset(spec, data_root)
    parts = ["corpus"] + [f"queries/{s}" for s in ds.queries] + [f"qrels/{s}" for s in ds.qrels]
    return {part: ds.fingerprint(part) for part in parts}


# ----------------------------------------------------------------------------------------------- gzip


def test_gzipped_run_and_qrels_read_like_plain_ones(tmp_path: Path) -> None:
    """Detected by the gzip magic bytes: NAME.gz and a gzipped file without the suffix both read."""
    qrels = "q1 0 d1 1\nq2 0 d2 0\n"
    write(tmp_path, {"run.trec": RUN, "qrels.txt": qrels})
    write(tmp_path / "gz", {"run.trec": RUN, "qrels.txt": qrels}, gz=True)
    (tmp_path / "disguised.trec").write_bytes(gzip.compress(RUN.encode()))
    plain = read_trec_run(tmp_path / "run.trec")
    assert read_trec_run(tmp_path / "gz" / "run.trec.gz") == plain
    assert read_trec_run(tmp_path / "disguised.trec") == plain
    assert read_qrels(tmp_path / "gz" / "qrels.txt.gz") == read_qrels(tmp_path / "qrels.txt")
    (tmp_path / "plain.gz").write_text(qrels)  # a .gz suffix on a plain file: read as plain text
    assert read_qrels(tmp_path / "plain.gz") == read_qrels(tmp_path / "qrels.txt")


@pytest.mark.parametrize("files", [TSV, BEIR, TREC], ids=["tsv", "beir", "trec"])
def test_gzipped_dataset_has_the_plain_fingerprints(tmp_path: Path, files: dict[str, str]) -> None:
    plain = fingerprints(write(tmp_path / "plain", files))
    assert fingerprints(write(tmp_path / "gz", files, gz=True)) == plain


def test_gzipped_copy_of_real_data_has_the_same_fingerprints(tmp_path: Path, data_root: Path) -> None:
    for name in ("msmarco-dl19-mini", "vaswani"):
        copy = gzip_copy(data_root / name, tmp_path / name)
        assert (copy / "qrels.txt.gz").is_file() and not (copy / "qrels.txt").exists()
        assert fingerprints(copy) == fingerprints(name, data_root), name


def test_errors_in_gzipped_files_name_the_exact_line(tmp_path: Path) -> None:
    write(tmp_path, {**TSV, "qrels.txt": "q1 0 d1 1\n\nq2 0 d2 high\n"}, gz=True)
    with pytest.raises(RqbenchError) as err:
        load_dataset(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'qrels.txt.gz'}:3: relevance 'high'")
    bad = tmp_path / "utf8"
    lines = b"".join(f"d{i}\tok\n".encode() for i in range(5001))  # past gzip's and io's first buffers
    write(bad, {**TSV, "corpus.tsv": lines + b"dx\tcaf\xe9\n"}, gz=True)
    with pytest.raises(RqbenchError, match=r"corpus.tsv.gz:5002: not valid UTF-8 \(byte 0xe9"):
        load_dataset(bad)


def test_a_damaged_gzip_file_is_one_line(tmp_path: Path) -> None:
    data = gzip.compress("".join(f"q1 0 d{i} 1\n" for i in range(2000)).encode())
    (tmp_path / "qrels.txt.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(RqbenchError) as err:
        read_qrels(tmp_path / "qrels.txt.gz")
    assert "gzip" in err.value.problem and "\n" not in str(err.value)


def test_two_files_for_one_part_are_an_error(tmp_path: Path) -> None:
    write(write(tmp_path, TSV), {"corpus.tsv": TSV["corpus.tsv"]}, gz=True)
    with pytest.raises(RqbenchError, match=r"corpus\.tsv and corpus\.tsv\.gz"):
        load_dataset(tmp_path)


# -------------------------------------------------------------------------------------------- inspect


def test_inspect_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {
        **TSV,
        "corpus.tsv": "d1\tfirst\nd2\tsecond\tthird\tfourth\nd3\tthird\nd1\tagain\n",  # lines 2 and 4
        "qrels.txt": "q1 0 d1 1\nq2 0 d2 1\nq2 0 d3 lots\n",  # line 3
    })
    info = inspect_dataset(tmp_path)
    where = [(Path(p["path"]).name, p["line"]) for p in info["problems"]]
    assert where == [("corpus.tsv", 2), ("corpus.tsv", 4), ("qrels.txt", 3)], info["problems"]
    assert info["fingerprints"] == {}  # not fingerprinted: this is not the data that a fixed folder holds
    text = format_inspection(info)
    assert f"{tmp_path / 'corpus.tsv'}:2: expected 2 columns" in text
    assert f"{tmp_path / 'corpus.tsv'}:4: duplicate document id 'd1'" in text
    assert f"{tmp_path / 'qrels.txt'}:3: relevance 'lots' is not a number" in text
    json.dumps(info)  # `data inspect --json` prints it


def test_inspect_goes_on_after_bad_json_and_sgml(tmp_path: Path) -> None:
    beir = write(tmp_path / "beir", {**BEIR, "corpus.jsonl": '{"_id": "d1", "text": "a"}\n{"_id": "d2", \n'
                                     '["d3"]\n{"_id": "d4", "text": "b"}\n'})
    info = inspect_dataset(beir)
    assert [(p["line"], p["problem"][:12]) for p in info["problems"]] == [(2, "invalid JSON"), (3, "expected a J")]
    assert info["n_docs"] == 2
    doc = "<DOC>\n<DOCNO>{}</DOCNO>\nx\n"
    trec = write(tmp_path / "trec", {**TREC, "docs.trec": doc.format("d1") + doc.format("d2") + "</DOC>\n"
                                     + "<DOC>\nno number\n</DOC>\n" + doc.format("d3")})
    info = inspect_dataset(trec)
    assert [(p["line"], p["problem"][:12]) for p in info["problems"]] == [
        (4, "<DOC> inside"), (8, "<DOC> withou"), (11, "<DOC> is nev")]


def test_inspect_caps_the_problems_of_one_file(tmp_path: Path) -> None:
    write(tmp_path, {**TSV, "queries.tsv": "q1\tfirst\n" + "bad\n" * 25 + "q2\tsecond\n"})
    info = inspect_dataset(tmp_path)
    shown = [p for p in info["problems"] if p["line"] is not None]
    assert len(shown) == 20 and shown[0]["line"] == 2 and shown[-1]["line"] == 21
    assert info["problems"][-1] == {"path": str(tmp_path / "queries.tsv"), "line": None,
                                    "problem": "5 more problems not shown"}


def test_inspect_names_the_accepted_files_of_an_empty_folder(tmp_path: Path) -> None:
    info = inspect_dataset(tmp_path)
    problems = " | ".join(p["problem"] for p in info["problems"])
    assert "no corpus file" in problems and "no query file" in problems, problems
    text = format_inspection(info)
    for name in ("corpus.jsonl", "collection.tsv", "docs.trec", "qrels/<split>.tsv", "queries.tsv",
                 "qrels.txt", ".gz"):
        assert name in text, name
    assert "beir" in text and "tsv" in text and "trec" in text


def test_one_text_describes_the_layouts() -> None:
    """describe_layouts() (for users) and the layout module's docstring name every accepted corpus file."""
    from rqbench.data import layout

    text = layout.describe_layouts()
    for name in [n for names in layout.CORPUS_NAMES.values() for n in names] + ["qrels/<split>.tsv", "NAME.gz"]:
        assert name in text and name in (layout.__doc__ or ""), name


def test_inspect_of_a_good_folder_has_no_problems(data_root: Path) -> None:
    info = inspect_dataset("msmarco-dl19-mini", data_root)
    assert info["problems"] == [] and info["accepted_files"] is None
    assert set(info["fingerprints"]) == {"corpus", "queries/test", "qrels/test"}
    assert "problems: none" in format_inspection(info)


# ---------------------------------------------------------------------------------- qrels by dataset


def test_qrels_for_a_folder_reads_no_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rqbench.data.readers as readers

    write(tmp_path / "tsv", TSV)
    write(tmp_path / "beir", BEIR, gz=True)

    def no_corpus(*args: object, **kwargs: object) -> None:
        raise AssertionError("the corpus was read")

    monkeypatch.setattr(readers, "read_corpus", no_corpus)
    monkeypatch.setattr("rqbench.data.loaders.read_corpus", no_corpus)
    assert rqbench.data.qrels_for(str(tmp_path / "tsv"), "dev", None) == ({"q3": {"d3": 1}}, "tsv (dev)")
    assert rqbench.data.qrels_for(str(tmp_path / "beir"), "train", None) == ({"q2": {"d2": 1}}, "beir (train)")
    assert rqbench.data.qrels_for("tsv", "test", tmp_path)[0] == {"q1": {"d1": 1}, "q2": {"d2": 2}}


@pytest.mark.parametrize(("name", "split"), [("scifact", "test"), ("msmarco-dl19", "dl19"), ("vaswani", "test")])
def test_qrels_for_short_names_match_the_loaded_dataset(data_root: Path, name: str, split: str) -> None:
    qrels, label = rqbench.data.qrels_for(name, split, data_root)
    assert label == f"{name} ({split})"
    assert qrels == load_dataset(name, data_root).split_qrels(split)


def test_qrels_for_a_wrong_split_is_one_line(data_root: Path) -> None:
    with pytest.raises(RqbenchError) as err:
        rqbench.data.qrels_for("scifact", "tset", data_root)
    line = str(err.value)
    assert "no qrels for split 'tset'" in line and "did you mean 'test'?" in line, line
    assert "test, train" in line and "unlabeled" not in line.split("split 'tset'")[1] and "\n" not in line
    with pytest.raises(RqbenchError, match="splits with qrels: dl19"):
        rqbench.data.qrels_for("msmarco-dl19", "dev", data_root)


def test_qrels_for_an_ir_datasets_id(monkeypatch: pytest.MonkeyPatch) -> None:
    R = namedtuple("R", "query_id doc_id relevance iteration")

    def docs_iter() -> None:
        raise AssertionError("the corpus was read")

    ds = types.SimpleNamespace(
        has_docs=lambda: True, has_queries=lambda: True, has_qrels=lambda: True, docs_iter=docs_iter,
        qrels_iter=lambda: iter([R("q1", "d1", 2, "0"), R("q1", "d9", 0, "0")]),
    )
    monkeypatch.setitem(sys.modules, "ir_datasets", types.SimpleNamespace(load=lambda name: ds))
    assert rqbench.data.qrels_for("beir/x/test", "test", None) == ({"q1": {"d1": 2, "d9": 0}}, "beir/x/test (test)")
    with pytest.raises(RqbenchError, match=r"no qrels for split 'dev'.*splits with qrels: test"):
        rqbench.data.qrels_for("beir/x/test", "dev", None)
