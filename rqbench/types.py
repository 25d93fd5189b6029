"""Core value types (Doc, Query, ScoredDoc, Run, Qrels) and TREC run/qrels reading and writing.

Every reader streams lines with `iter_lines`, which reads gzipped files (found by their magic bytes) as
their content, so `run.trec.gz` or `qrels.txt.gz` read like the plain files, line numbers included.

Tie-breaking: a ranking is ordered by score descending, then by docid *descending*. That is the order
trec_eval (and so ir-measures' pytrec_eval provider) re-sorts every run into, so the rank column we
write is exactly the order that gets evaluated, on every machine.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from rqbench.errors import RqbenchError


@dataclass(frozen=True, slots=True)
class Doc:
    id: str
    title: str
    text: str

    def contents(self, sep: str = " ") -> str:
        """Title and text joined as BEIR/Pyserini do (title, a space, text)."""
        return f"{self.title}{sep}{self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class Query:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class ScoredDoc:
    docid: str
    score: float


Run = dict[str, list[ScoredDoc]]
"""qid -> ranking, sorted with `sort_ranking`."""

Qrels = dict[str, dict[str, int]]
"""qid -> docid -> graded relevance."""


def _rank_key(sd: ScoredDoc) -> tuple[float, _Desc]:
    return (-sd.score, _Desc(sd.docid))


class _Desc(str):
    """A str that sorts in reverse, so one ascending sort gives score desc, docid desc."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)


def sort_ranking(ranking: Iterable[ScoredDoc], k: int | None = None) -> list[ScoredDoc]:
    """Deterministic order: score descending, ties by docid descending (trec_eval's order)."""
    ordered = sorted(ranking, key=_rank_key)
    return ordered if k is None else ordered[:k]


def normalize_run(run: Run, k: int | None = None) -> Run:
    return {qid: sort_ranking(docs, k) for qid, docs in run.items()}


OnError = Callable[[RqbenchError], None]
"""Where a lenient reader reports a problem and goes on (`data inspect` lists them all); None: raise it."""

GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: str | Path) -> BinaryIO:
    """The file's bytes, decompressed when it starts with the gzip magic bytes (whatever its name)."""
    with Path(path).open("rb") as probe:
        packed = probe.read(2) == GZIP_MAGIC
    if not packed:
        return Path(path).open("rb")
    return cast(BinaryIO, io.BufferedReader(gzip.open(path, "rb"), 1 << 16))  # line iteration in C


def report(problem: RqbenchError, on_error: OnError | None) -> None:
    """Raise `problem`, or hand it to `on_error` (a lenient reader then goes on)."""
    if on_error is None:
        raise problem
    on_error(problem)


class reported:  # lower case: used like a function, `with reported(on_error):`
    """A RqbenchError in the `with` block is raised, or with `on_error` reported, and the code after the
    block runs. One instance may guard every line of a loop (cheaper than a new one per line)."""

    __slots__ = ("on_error",)

    def __init__(self, on_error: OnError | None):
        self.on_error = on_error

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if self.on_error is None or not isinstance(exc, RqbenchError):
            return False
        self.on_error(exc)
        return True


def noting(on_error: OnError | None, seen: list[RqbenchError]) -> OnError | None:
    """`on_error` that also keeps each problem in `seen` (so a file whose every line is bad is not also
    reported as empty); None stays None."""
    if on_error is None:
        return None

    def note(problem: RqbenchError) -> None:
        seen.append(problem)
        on_error(problem)

    return note


def iter_lines(path: str | Path, on_error: OnError | None = None) -> Iterator[tuple[int, str]]:
    """(line number, line without newline) for every line, of a plain or gzipped file; non-UTF-8 bytes are
    a one-line error naming the line they are on (each line is decoded on its own, so the number is
    exact); with `on_error` such a line is reported and skipped."""
    path = Path(path)
    if not path.exists():
        raise RqbenchError("file not found", path)
    if path.is_dir():
        raise RqbenchError("is a directory, expected a file", path)
    lineno = 0
    with open_binary(path) as fh:
        try:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    report(RqbenchError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}) at column {exc.start + 1}; "
                                        "re-encode the file as UTF-8", path, lineno), on_error)
                    continue
                if lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]  # a UTF-8 byte-order mark is not content
                yield lineno, line.rstrip("\r\n")
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise RqbenchError(f"damaged gzip file ({exc}); compress it again", path, lineno + 1) from None


_WHITESPACE = re.compile(r"\s")  # str patterns: exactly the characters str.isspace() accepts
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 controls, DEL and C1 controls (NUL among them)
_BAD_ID_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")  # either: one scan finds an id that needs a closer look
# The relevance grades accepted: pytrec_eval holds grades as C ints (2**32 wraps to 0, 10**23 is a SystemError)
# and sizes per-query arrays by the largest grade (2**31 - 1 takes 16 GB and a minute), so: 16 bits either way.
RELEVANCE_MIN, RELEVANCE_MAX = -65535, 65535


def show_id(value: str, limit: int = 80) -> str:
    """An id quoted for a one-line message: whitespace other than a space and control characters are escaped
    (a tab reads `\\t`, a newline `\\n`, NUL `\\x00`), and a very long id is cut."""
    shown = "".join(c.encode("unicode_escape").decode("ascii") if (c.isspace() and c != " ") or CONTROL_CHARS.match(c)
                    else c for c in value)
    if len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return f"'{shown}'"


def id_problem(what: str, value: str) -> str | None:
    """Why `value` cannot be a `what` ("document", "query") id, or None when it can.

    An id must be non-empty and free of whitespace (any `str.isspace` character): TREC runs and qrels
    are whitespace-separated, so such an id would shift every later column of its line. Nor may it hold a
    control character (C0, DEL, C1): pytrec_eval reads ids as C strings, so 'd\\x001' and 'd\\x002' would
    both be 'd' there and the metrics silently wrong.
    """
    if not value:
        return f"empty {what} id"
    if not _BAD_ID_CHAR.search(value):
        return None
    if _WHITESPACE.search(value):
        return f"{what} id {show_id(value)} contains whitespace"
    return f"{what} id {show_id(value)} contains a control character"


def check_id(what: str, value: str, path: str | Path | None = None, lineno: int | None = None) -> None:
    """Raise a one-line RqbenchError (naming the file and line) when `value` is not a usable id."""
    problem = id_problem(what, value)
    if problem is not None:
        raise RqbenchError(problem, path, lineno)


def _too_many_columns(found: int, expected: int) -> str:
    return " (does an id contain whitespace?)" if found > expected else ""


def _parse_float(value: str, what: str, path: Path, lineno: int) -> float:
    try:
        number = float(value)
    except ValueError:
        raise RqbenchError(f"{what} '{value}' is not a number", path, lineno) from None
    if math.isnan(number):
        raise RqbenchError(f"{what} is NaN", path, lineno)
    return number


def _parse_int(value: str, what: str, path: Path, lineno: int) -> int:
    try:
        return int(value)
    except ValueError:
        try:
            as_float = float(value)
        except ValueError:
            raise RqbenchError(f"{what} '{value}' is not a number", path, lineno) from None
        if not as_float.is_integer():
            raise RqbenchError(f"{what} '{value}' is not a whole number", path, lineno) from None
        return int(as_float)


def read_trec_run(path: str | Path) -> Run:
    """Read a 6-column TREC run (qid Q0 docid rank score tag). Ranks are ignored; scores decide."""
    path = Path(path)
    run: Run = {}
    seen: set[tuple[str, str]] = set()
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 6:
            tabbed = [part.strip() for part in line.split("\t")]
            if len(tabbed) == 6:  # tab-separated with whitespace inside a column: name the column
                check_id("query", tabbed[0], path, lineno)
                check_id("document", tabbed[2], path, lineno)
            raise RqbenchError(
                f"expected 6 columns (qid Q0 docid rank score tag), found {len(parts)}"
                + _too_many_columns(len(parts), 6),
                path,
                lineno,
            )
        qid, _, docid, _rank, score, _tag = parts
        if CONTROL_CHARS.search(line):  # NUL and the like: not whitespace to str.split, but fatal to pytrec_eval
            check_id("query", qid, path, lineno)
            check_id("document", docid, path, lineno)
        if (qid, docid) in seen:
            raise RqbenchError(f"document '{docid}' appears twice for query '{qid}'", path, lineno)
        seen.add((qid, docid))
        run.setdefault(qid, []).append(ScoredDoc(docid, _parse_float(score, "score", path, lineno)))
    if not run:
        raise RqbenchError("run file is empty", path)
    return normalize_run(run)


def write_trec_run(run: Run, path: str | Path, tag: str = "rqbench") -> None:
    """Write a TREC run atomically, ranks renumbered from 1 in `sort_ranking` order.

    An empty id, or one with whitespace, would make a line with the wrong number of columns that no
    reader can parse: it is refused (RqbenchError naming `path`) and nothing is written.
    """
    from rqbench.io import atomic_write_text

    if not tag or _WHITESPACE.search(tag):
        raise RqbenchError(f"cannot write the run: the tag {show_id(tag)} is empty or contains whitespace", path)
    lines = []
    for qid in sorted(run):
        if (problem := id_problem("query", qid)) is not None:
            raise RqbenchError(f"cannot write the run: {problem}", path)
        ranking = sort_ranking(run[qid])
        docids = [sd.docid for sd in ranking]
        if not all(docids) or _BAD_ID_CHAR.search("".join(docids)):  # one scan per query; then find which
            problem = next(found for docid in docids if (found := id_problem("document", docid)))
            raise RqbenchError(f"cannot write the run: {problem} (retrieved for query '{qid}')", path)
        lines.extend(f"{qid} Q0 {sd.docid} {rank} {sd.score!r} {tag}\n" for rank, sd in enumerate(ranking, start=1))
    atomic_write_text(path, "".join(lines))


def read_qrels(path: str | Path, on_error: OnError | None = None) -> Qrels:
    """Read qrels in TREC form (qid iter docid rel) or BEIR TSV form (query-id corpus-id score, header).
    With `on_error`, a bad line is reported and skipped (the first judgement of a pair is kept)."""
    path = Path(path)
    qrels: Qrels = {}
    seen: list[RqbenchError] = []
    on_error = noting(on_error, seen)
    guard = reported(on_error)
    for lineno, line in iter_lines(path, on_error):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts]
        if lineno == 1 and parts and parts[0].lower() in {"query-id", "qid", "query_id", "query"}:
            continue  # BEIR header
        with guard:
            if len(parts) not in (3, 4):
                raise RqbenchError(
                    f"expected 4 columns (qid iter docid rel) or 3 (qid docid rel), found {len(parts)}"
                    + _too_many_columns(len(parts), 4),
                    path,
                    lineno,
                )
            qid, docid, rel = parts[0], parts[-2], parts[-1]
            check_id("query", qid, path, lineno)
            check_id("document", docid, path, lineno)
            judged = qrels.get(qid)
            if judged is not None and docid in judged:
                raise RqbenchError(f"document '{docid}' judged twice for query '{qid}'", path, lineno)
            relevance = _parse_int(rel, "relevance", path, lineno)  # before the query gets an entry
            if not RELEVANCE_MIN <= relevance <= RELEVANCE_MAX:
                shown = rel if len(rel) <= 30 else rel[:27] + "..."
                raise RqbenchError(f"relevance {shown} is outside the accepted range {RELEVANCE_MIN}..{RELEVANCE_MAX} "
                                   "(pytrec_eval overflows or slows down on larger grades)", path, lineno)
            qrels.setdefault(qid, {})[docid] = relevance
    if not qrels and not seen:
        report(RqbenchError("qrels file is empty", path), on_error)
    return qrels


def write_qrels(qrels: Qrels, path: str | Path) -> None:
    from rqbench.io import atomic_write_text

    for qid, judged in qrels.items():
        check_id("query", qid, path)
        for docid in judged:
            check_id("document", docid, path)
    lines = [
        f"{qid} 0 {docid} {rel}\n" for qid in sorted(qrels) for docid, rel in sorted(qrels[qid].items())
    ]
    atomic_write_text(path, "".join(lines))
