"""Which files in a dataset folder are the corpus, the query sets and the qrels, and their split names.

- beir: corpus.jsonl; queries.jsonl holds the queries of every split, a split's queries being those its
  qrels/<split>.tsv judges; each queries.<name>.jsonl adds split <name> (with qrels/<name>.tsv if any).
- tsv / trec: collection.tsv or corpus.tsv (tsv), docs.trec or corpus.trec (trec); queries[.<split>].tsv
  or .trec and qrels[.<split>].txt or .tsv beside it. No middle name means split "test". Anything
  else (runs/, *.trec run files, README) is ignored.
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
_QUERIES = re.compile(r"queries(?:[._-](?P<split>.+))?\.(?:tsv|trec)", re.I)
_QRELS = re.compile(r"qrels(?:[._-](?P<split>.+))?\.(?:txt|tsv)", re.I)
_BEIR_QUERIES = re.compile(r"queries[._-](?P<split>.+)\.jsonl", re.I)


@dataclass
class Layout:
    corpus: Path | None = None
    pool: Path | None = None
    """BEIR queries.jsonl: queries of all splits, each split takes the ones its qrels judge."""
    queries: dict[str, Path] = field(default_factory=dict)
    qrels: dict[str, Path] = field(default_factory=dict)


def detect_format(folder: Path) -> str | None:
    for fmt, names in CORPUS_NAMES.items():
        if any((folder / name).is_file() for name in names):
            return fmt
    return None


def expected_corpus_names() -> str:
    names = [name for group in CORPUS_NAMES.values() for name in group]
    return ", ".join(names[:-1]) + " or " + names[-1]


def discover(folder: Path, fmt: str | None) -> Layout:
    """The files of `folder` for layout `fmt` (None: no known corpus file; query/qrels files still found)."""
    layout = Layout()
    for name in CORPUS_NAMES.get(fmt or "", ()):
        if (folder / name).is_file():
            layout.corpus = folder / name
            break
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if fmt == "beir":
        if (folder / "queries.jsonl").is_file():
            layout.pool = folder / "queries.jsonl"
        _collect(layout.queries, files, _BEIR_QUERIES)
        qrels_dir = folder / "qrels"
        if qrels_dir.is_dir():
            qrels_files = sorted(p for p in qrels_dir.iterdir() if p.is_file() and p.suffix in {".tsv", ".txt"})
            _collect(layout.qrels, qrels_files, re.compile(r"(?P<split>.+)\.(?:tsv|txt)"))
    else:
        _collect(layout.queries, files, _QUERIES)
        _collect(layout.qrels, files, _QRELS)
    return layout


def _collect(into: dict[str, Path], files: list[Path], pattern: re.Pattern[str]) -> None:
    for path in files:
        match = pattern.fullmatch(path.name)
        if match is None:
            continue
        split = match.group("split") or DEFAULT_SPLIT
        if split in into:
            raise RqbenchError(f"two files for split '{split}': {into[split].name} and {path.name}", path.parent)
        into[split] = path
