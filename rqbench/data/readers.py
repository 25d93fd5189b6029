"""Parsers for one corpus or query file each (JSONL, TSV, TREC SGML).

Every problem is a RqbenchError naming the file and line. Files are streamed with `iter_lines`, so a
non-UTF-8 byte is reported with its line too, and a gzipped file reads as its content (NAME.gz, or any
name: the gzip magic bytes decide). Blank lines are skipped everywhere. With `on_error` (data inspect) a
bad line or element is reported and skipped, and reading goes on. Every document and
query id must be non-empty and free of whitespace and control characters (`rqbench.types.check_id`): runs
and qrels are whitespace-separated, so such an id could never be written to or read back from a run, and
pytrec_eval cuts an id at a NUL.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from rqbench.errors import RqbenchError
from rqbench.types import Doc, OnError, Query, check_id, iter_lines, noting, report, reported

_DOC_HEADER = {"id", "_id", "docid", "doc_id", "doc-id", "pid", "corpus-id"}
_QUERY_HEADER = {"id", "_id", "qid", "query_id", "query-id"}
_DOC_COLUMNS = {2: "id, text", 3: "id, title, text"}
SGML_SUFFIXES = {".trec", ".sgml", ".xml"}


def data_lines(path: Path, on_error: OnError | None = None) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their numbers (a UTF-8 byte-order mark on line 1 is dropped by iter_lines)."""
    for lineno, line in iter_lines(path, on_error):
        if line.strip():
            yield lineno, line


def split_tsv(line: str, wanted: tuple[int, ...]) -> list[str]:
    """Split on tabs; if that gives the wrong count, retry with CSV-style quoting.

    A few real files (NovelEval's corpus) quote a text field that contains tabs. Quoting is only
    tried when the plain split fails, so ordinary text that starts with a quote is never altered.
    """
    parts = line.split("\t")
    if len(parts) in wanted or '"' not in line:
        return parts
    try:
        quoted = next(csv.reader([line], delimiter="\t", quotechar='"', strict=True))
    except csv.Error:
        return parts
    return quoted if len(quoted) in wanted else parts


def _add_doc(docs: dict[str, Doc], doc: Doc, path: Path, lineno: int) -> None:
    check_id("document", doc.id, path, lineno)
    if doc.id in docs:
        raise RqbenchError(f"duplicate document id '{doc.id}'", path, lineno)
    docs[doc.id] = doc


def _add_query(queries: dict[str, Query], query: Query, path: Path, lineno: int) -> None:
    check_id("query", query.id, path, lineno)
    if query.id in queries:
        raise RqbenchError(f"duplicate query id '{query.id}'", path, lineno)
    if not query.text.strip():
        raise RqbenchError(f"query '{query.id}' has an empty text", path, lineno)
    queries[query.id] = query


# ---------------------------------------------------------------------------------------------- JSONL


def _json_object(line: str, path: Path, lineno: int) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RqbenchError(f"invalid JSON: {exc.msg} (column {exc.colno})", path, lineno) from None
    if not isinstance(obj, dict):
        raise RqbenchError(f"expected a JSON object, found {type(obj).__name__}", path, lineno)
    return obj


def _json_field(obj: dict, key: str, path: Path, lineno: int, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            keys = ", ".join(sorted(obj)) or "none"
            raise RqbenchError(f"missing '{key}' (keys on this line: {keys})", path, lineno)
        return ""
    if key == "_id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RqbenchError(f"'{key}' must be a string, found {type(value).__name__}", path, lineno)
    return value


def read_jsonl_docs(path: Path, on_error: OnError | None = None) -> dict[str, Doc]:
    """BEIR corpus.jsonl: one object per line with `_id`, `text` and an optional `title`."""
    docs: dict[str, Doc] = {}
    guard = reported(on_error)
    for lineno, line in data_lines(path, on_error):
        with guard:
            obj = _json_object(line, path, lineno)
            doc = Doc(
                _json_field(obj, "_id", path, lineno).strip(),
                _json_field(obj, "title", path, lineno, required=False),
                _json_field(obj, "text", path, lineno),
            )
            _add_doc(docs, doc, path, lineno)
    return docs


def read_jsonl_queries(path: Path, on_error: OnError | None = None) -> dict[str, Query]:
    """BEIR queries.jsonl: one object per line with `_id` and `text`."""
    queries: dict[str, Query] = {}
    guard = reported(on_error)
    for lineno, line in data_lines(path, on_error):
        with guard:
            obj = _json_object(line, path, lineno)
            query = Query(_json_field(obj, "_id", path, lineno).strip(), _json_field(obj, "text", path, lineno))
            _add_query(queries, query, path, lineno)
    return queries


# ------------------------------------------------------------------------------------------------ TSV


def read_tsv_docs(path: Path, on_error: OnError | None = None) -> dict[str, Doc]:
    """id<TAB>text or id<TAB>title<TAB>text; the first good row fixes the column count for the file."""
    docs: dict[str, Doc] = {}
    ncols = 0
    first = 0
    guard = reported(on_error)
    for lineno, line in data_lines(path, on_error):
        with guard:
            parts = split_tsv(line, (ncols,) if ncols else (2, 3))
            if not ncols:
                if len(parts) not in _DOC_COLUMNS:
                    raise RqbenchError(
                        f"expected 2 columns (id, text) or 3 (id, title, text), found {len(parts)}",
                        path,
                        lineno,
                    )
                ncols, first = len(parts), lineno
                if parts[0].strip().lower() in _DOC_HEADER:
                    continue
            elif len(parts) != ncols:
                raise RqbenchError(
                    f"expected {ncols} columns ({_DOC_COLUMNS[ncols]}) as on line {first}, found {len(parts)}",
                    path,
                    lineno,
                )
            title = parts[1] if ncols == 3 else ""
            _add_doc(docs, Doc(parts[0].strip(), title, parts[-1]), path, lineno)
    return docs


def read_tsv_queries(path: Path, on_error: OnError | None = None) -> dict[str, Query]:
    """id<TAB>text; a header row (id/qid ...) on line 1 is skipped."""
    queries: dict[str, Query] = {}
    guard = reported(on_error)
    for lineno, line in data_lines(path, on_error):
        with guard:
            parts = split_tsv(line, (2,))
            if len(parts) != 2:
                raise RqbenchError(f"expected 2 columns (id, text), found {len(parts)}", path, lineno)
            if not queries and parts[0].strip().lower() in _QUERY_HEADER:
                continue
            _add_query(queries, Query(parts[0].strip(), parts[1]), path, lineno)
    return queries


# ------------------------------------------------------------------------------------------ TREC SGML

_TAGS = re.compile(r"<[^>]*>")
_DOCNO = re.compile(r"<docno>\s*(.*?)\s*</docno>", re.I | re.S)
_TITLE = re.compile(r"<title>(.*?)</title>", re.I | re.S)
_NUM = re.compile(r"<num>\s*(?:number:)?\s*([^<\s]*)", re.I)
_TOPIC_TITLE = re.compile(r"<title>\s*(?:topic:)?(.*?)(?=<|\Z)", re.I | re.S)
_TOPIC_DESC = re.compile(r"<desc>\s*(?:description:)?(.*?)(?=<|\Z)", re.I | re.S)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _blocks(path: Path, tag: str, on_error: OnError | None = None) -> Iterator[tuple[int, str]]:
    """(line of <tag>, text from <tag> to </tag>) for each element; unclosed or nested ones are errors
    (with `on_error`: reported, and a nested <tag> starts the next element)."""
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    start = 0
    lines: list[str] = []
    for lineno, line in data_lines(path, on_error):
        lower = line.lower()
        if open_tag in lower:
            if start:
                report(RqbenchError(
                    f"<{tag.upper()}> inside another one (opened on line {start}); is a "
                    f"</{tag.upper()}> missing?",
                    path,
                    lineno,
                ), on_error)
            start, lines = lineno, []
        if start:
            lines.append(line)
            if close_tag in lower:
                yield start, "\n".join(lines)
                start = 0
    if start:
        report(RqbenchError(f"<{tag.upper()}> is never closed", path, start), on_error)


def _line_of(block: str, start: int, offset: int) -> int:
    return start + block.count("\n", 0, offset)


def read_trec_docs(path: Path, on_error: OnError | None = None) -> dict[str, Doc]:
    """<DOC><DOCNO>id</DOCNO> text </DOC>; other tags are stripped, whitespace squashed to one space."""
    docs: dict[str, Doc] = {}
    guard = reported(on_error)
    for start, block in _blocks(path, "doc", on_error):
        with guard:
            match = _DOCNO.search(block)
            if match is None:
                raise RqbenchError("<DOC> without a <DOCNO>", path, start)
            lineno = _line_of(block, start, match.start())
            body = block[: match.start()] + block[match.end() :]
            title = ""
            title_match = _TITLE.search(body)
            if title_match:
                title = _squash(_TAGS.sub(" ", title_match.group(1)))
                body = body[: title_match.start()] + body[title_match.end() :]
            _add_doc(docs, Doc(match.group(1), title, _squash(_TAGS.sub(" ", body))), path, lineno)
    return docs


def read_trec_topics(path: Path, on_error: OnError | None = None) -> dict[str, Query]:
    """<top><num>id</num><title>text</title></top>, closing tags optional (classic TREC topics).

    The title is the query; <desc> is used only when a topic has no <title> at all.
    """
    queries: dict[str, Query] = {}
    guard = reported(on_error)
    for start, block in _blocks(path, "top", on_error):
        with guard:
            num = _NUM.search(block)
            if num is None or not num.group(1):
                raise RqbenchError("topic without a <num>", path, start)
            text = _TOPIC_TITLE.search(block) or _TOPIC_DESC.search(block)
            if text is None:
                raise RqbenchError(f"topic '{num.group(1)}' has no <title>", path, start)
            lineno = _line_of(block, start, text.start())
            _add_query(queries, Query(num.group(1), _squash(text.group(1))), path, lineno)
    return queries


# ------------------------------------------------------------------------------------------- dispatch

Reader = Callable[[Path, OnError | None], dict]


def read_corpus(path: Path, fmt: str | None = None, on_error: OnError | None = None) -> dict[str, Doc]:
    """Parse by file extension (.jsonl, .trec/.sgml/.xml, else TSV; a .gz after it is looked through);
    `fmt` decides for other endings."""
    readers: dict[str, Reader] = {"jsonl": read_jsonl_docs, "trec": read_trec_docs, "tsv": read_tsv_docs}
    return _read(readers[_kind(path, fmt)], path, "corpus is empty", on_error)


def read_queries(path: Path, fmt: str | None = None, on_error: OnError | None = None) -> dict[str, Query]:
    readers: dict[str, Reader] = {"jsonl": read_jsonl_queries, "trec": read_trec_topics, "tsv": read_tsv_queries}
    return _read(readers[_kind(path, fmt)], path, "query file is empty", on_error)


def _read(reader: Reader, path: Path, empty: str, on_error: OnError | None) -> dict:
    """`reader`'s result; nothing read is the error `empty` (unless every line was a reported problem)."""
    seen: list[RqbenchError] = []
    parsed = reader(path, noting(on_error, seen))
    if not parsed and not seen:
        report(RqbenchError(empty, path), on_error)
    return parsed


def _kind(path: Path, fmt: str | None) -> str:
    name = path.name.lower()
    suffix = Path(name.removesuffix(".gz")).suffix
    if suffix == ".jsonl":
        return "jsonl"
    if suffix in SGML_SUFFIXES:
        return "trec"
    if suffix in {".tsv", ".txt"}:
        return "tsv"
    return {"beir": "jsonl", "trec": "trec"}.get(fmt or "", "tsv")
