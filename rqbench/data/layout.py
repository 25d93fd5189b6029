"""Which files in a dataset folder are the corpus, the query sets and the qrels, and their split names.

- beir: corpus.jsonl; queries.jsonl holds the queries of every split, a split's queries being those its
  qrels/<split>.tsv (or .txt) judges; each queries.<split>.jsonl adds split <split> (with
  qrels/<split>.tsv if any).
- tsv (MS MARCO): collection.tsv or corpus.tsv; queries[.<split>].tsv and qrels[.<split>].txt or .tsv.
- trec: docs.trec or corpus.trec; queries[.<split>].trec (or .tsv) and qrels[.<split>].txt or .tsv.

No middle name means split "test" ("-" or "_" may stand for the dot). Any of these files may be gzipped
and named NAME.gz (a folder holding both NAME and NAME.gz is an error: which one is meant?). Anything
else (runs/, *.trec run files, README) is ignored. `describe_layouts()` says the same for users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rqbench.errors import RqbenchError

FORMATS = ("beir", "tsv", "trec", "irds")
CORPUS_NAMES = {
    "beir": ("corpus.jsonl",),
    "tsv": ("collection.tsv", "corpus.tsv"),
    "trec": ("docs.trec", "corpus.trec"),
}
DEFAULT_SPLIT = "test"
GZ = ".gz"
_QUERIES = re.compile(r"queries(?:[._-](?P<split>.+))?\.(?:tsv|trec)(?:\.gz)?", re.I)
_QRELS = re.compile(r"qrels(?:[._-](?P<split>.+))?\.(?:txt|tsv)(?:\.gz)?", re.I)
_BEIR_QUERIES = re.compile(r"queries[._-](?P<split>.+)\.jsonl(?:\.gz)?", re.I)
_BEIR_QRELS = re.compile(r"(?P<split>.+)\.(?:tsv|txt)(?:\.gz)?", re.I)
_LAYOUT_FILES = {
    "beir": ("queries.jsonl (all splits: a split's queries are those its qrels judge), "
             "queries.<split>.jsonl; qrels/<split>.tsv or qrels/<split>.txt"),
    "tsv": "queries.tsv, queries.<split>.tsv; qrels.txt or qrels.tsv, qrels.<split>.txt or qrels.<split>.tsv",
    "trec": "queries.trec, queries.<split>.trec (or .tsv); qrels.txt, qrels.<split>.txt (or .tsv)",
}
_LAYOUT_TITLES = {"beir": "beir", "tsv": "tsv (MS MARCO)", "trec": "trec (SGML)"}


@dataclass
class Layout:
    corpus: Path | None = None
    pool: Path | None = None
    """BEIR queries.jsonl: queries of all splits, each split takes the ones its qrels judge."""
    queries: dict[str, Path] = field(default_factory=dict)
    qrels: dict[str, Path] = field(default_factory=dict)


def describe_layouts() -> str:
    """The accepted file names of a dataset folder, per layout, for users (data inspect, the README)."""
    width = max(len(title) for title in _LAYOUT_TITLES.values())
    lines = ["Accepted file names in a dataset folder (the corpus file decides the layout):"]
    for fmt, title in _LAYOUT_TITLES.items():
        corpus = " or ".join(CORPUS_NAMES[fmt])
        lines.append(f"  {title.ljust(width)}  corpus: {corpus}")
        lines.append(f"  {''.ljust(width)}  queries, qrels: {_LAYOUT_FILES[fmt]}")
    lines.append(f'No <split> in a name means split "{DEFAULT_SPLIT}". Any file may be gzipped and named '
                 "NAME.gz (e.g. corpus.jsonl.gz, qrels/test.tsv.gz).")
    return "\n".join(lines)


def detect_format(folder: Path) -> str | None:
    """The layout its corpus file names; without one, 'beir' for a qrels/ folder or queries.jsonl."""
    for fmt, names in CORPUS_NAMES.items():
        if any(_named(folder, name) for name in names):
            return fmt
    if (folder / "qrels").is_dir() or _named(folder, "queries.jsonl"):
        return "beir"
    return None


def expected_corpus_names(fmt: str | None = None) -> str:
    """The corpus file names of layout `fmt` (None: of every layout), for a one-line error."""
    names = list(CORPUS_NAMES[fmt]) if fmt in CORPUS_NAMES else [n for group in CORPUS_NAMES.values() for n in group]
    listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    return listed + "; each may be gzipped as NAME.gz"


def discover(folder: Path, fmt: str | None) -> Layout:
    """The files of `folder` for layout `fmt` (None: no known corpus file; query/qrels files still found)."""
    layout = Layout()
    for name in CORPUS_NAMES.get(fmt or "", ()):
        layout.corpus = _named(folder, name)
        if layout.corpus is not None:
            break
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if fmt == "beir":
        layout.pool = _named(folder, "queries.jsonl")
        _collect(layout.queries, files, _BEIR_QUERIES)
        qrels_dir = folder / "qrels"
        if qrels_dir.is_dir():
            _collect(layout.qrels, sorted(p for p in qrels_dir.iterdir() if p.is_file()), _BEIR_QRELS)
    else:
        _collect(layout.queries, files, _QUERIES)
        _collect(layout.qrels, files, _QRELS)
    return layout


def _named(folder: Path, name: str) -> Path | None:
    """folder/name or folder/name.gz, whichever is a file; both is an error."""
    found = [path for path in (folder / name, folder / (name + GZ)) if path.is_file()]
    if len(found) > 1:
        raise RqbenchError(f"two files for one part: {name} and {name}{GZ} (keep one)", folder)
    return found[0] if found else None


def _collect(into: dict[str, Path], files: list[Path], pattern: re.Pattern[str]) -> None:
    for path in files:
        match = pattern.fullmatch(path.name)
        if match is None:
            continue
        split = match.group("split") or DEFAULT_SPLIT
        if split in into:
            raise RqbenchError(f"two files for split '{split}': {into[split].name} and {path.name}", path.parent)
        into[split] = path
