"""The in-memory dataset: corpus, queries and qrels by split, and content fingerprints for cache keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.types import Doc, Qrels, Query


@dataclass
class Dataset:
    """A corpus, query sets by split, qrels by split; `source` is the folder or ir_datasets id."""

    name: str
    source: str
    corpus: dict[str, Doc]
    queries: dict[str, dict[str, Query]]
    qrels: dict[str, Qrels]
    warnings: list[str] = field(default_factory=list)
    _fingerprints: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def splits(self) -> list[str]:
        return sorted(set(self.queries) | set(self.qrels))

    def split_queries(self, split: str) -> list[Query]:
        if split not in self.queries:
            raise RqbenchError(
                f"dataset '{self.name}' has no queries for split '{split}'"
                + did_you_mean(split, self.queries),
                self.source,
            )
        return list(self.queries[split].values())

    def split_qrels(self, split: str) -> Qrels:
        if split not in self.qrels:
            raise RqbenchError(
                f"dataset '{self.name}' has no qrels for split '{split}'" + did_you_mean(split, self.qrels),
                self.source,
            )
        return self.qrels[split]

    def fingerprint(self, part: str) -> str:
        """sha256 of the parsed content of 'corpus', 'queries/<split>' or 'qrels/<split>'.

        Content-based, so the same data in another file format or folder hashes the same, and
        editing the qrels does not invalidate a cached index.
        """
        if part not in self._fingerprints:
            self._fingerprints[part] = _hash_lines(self._lines(part))
        return self._fingerprints[part]

    def _lines(self, part: str) -> Iterable[str]:
        kind, _, split = part.partition("/")
        if kind == "corpus":
            return (f"{d.id}\t{d.title}\t{d.text}" for d in self.corpus.values())
        if kind == "queries":
            return (f"{q.id}\t{q.text}" for q in self.split_queries(split))
        if kind == "qrels":
            qrels = self.split_qrels(split)
            return (f"{q}\t{d}\t{r}" for q in sorted(qrels) for d, r in sorted(qrels[q].items()))
        raise ValueError(f"unknown fingerprint part {part!r}")


def _hash_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()
