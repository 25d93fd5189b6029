"""Training groups: one query with its positive and negative passages, stored as JSON lines.

Owns the file format every training stage hands on (RocketQA, arXiv 2010.08191, trains on such
(query, positive, negatives) groups; the negatives are random, in-batch or mined hard ones)::

    {"query_id": "q1", "query": "text", "positives": [{"id": "d1", "text": "..."}],
     "negatives": [{"id": "d7", "text": "..."}]}

Writing is atomic (a temporary file in the same folder, renamed over the target). Reading checks every
line and reports the first problem as one line, ``path:line: problem`` (non-UTF-8 bytes, invalid JSON,
a missing or empty query, no positives, wrong types). `negatives` may be missing or empty; extra keys
are ignored, so a file annotated by another tool (scores, ranks) still reads.

`groups_from_qrels` builds groups from a dataset's qrels: positives are the judged documents with
relevance > 0, negatives either none or random corpus documents (seeded, never a positive).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rqbench.errors import RqbenchError
from rqbench.io import atomic_path
from rqbench.types import Doc, iter_lines

if TYPE_CHECKING:
    from rqbench.data import Dataset


@dataclass(frozen=True, slots=True)
class Passage:
    """`text` is what the models read (title and text joined as BEIR does); `title` is the document's title
    on its own ("" without one), kept so an encoder can read them as a pair (`passage_input = "title-sep"`);
    None in groups written before titles were kept, or by tools that do not know it."""

    id: str
    text: str
    title: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text, **({"title": self.title} if self.title is not None else {})}


@dataclass(frozen=True, slots=True)
class TrainingGroup:
    """A query, its positive passages (at least one) and its negatives (possibly none)."""

    query_id: str
    query: str
    positives: tuple[Passage, ...]
    negatives: tuple[Passage, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "query": self.query,
            "positives": [p.to_json() for p in self.positives],
            "negatives": [p.to_json() for p in self.negatives],
        }


def write_groups(groups: Iterable[TrainingGroup], path: str | Path) -> int:
    """Write `groups` as JSON lines atomically (streamed, so large files need little memory); returns the count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for group in groups:
            fh.write(json.dumps(group.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def iter_groups(path: str | Path) -> Iterator[TrainingGroup]:
    """The groups of a JSON-lines file, one by one; blank lines are skipped; errors name file and line."""
    path = Path(path)
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RqbenchError(f"invalid JSON ({exc.msg} at column {exc.colno})", path, lineno) from None
        yield _parse_group(data, path, lineno)


def titles_from_corpus(groups: Iterable[TrainingGroup], corpus: Mapping[str, Doc]) -> Iterator[TrainingGroup]:
    """`groups` with every missing passage title taken from `corpus`: groups an older rqbench wrote before titles
    were kept, under the hash that groups of the same corpus have now. A passage whose id or text does not match
    the corpus (`Doc.contents()`, as every groups-making stage writes it) is left without a title."""

    def titled(passage: Passage) -> Passage:
        doc = corpus.get(passage.id)
        if passage.title is not None or doc is None or doc.contents() != passage.text:
            return passage
        return Passage(passage.id, passage.text, doc.title)

    for group in groups:
        yield TrainingGroup(group.query_id, group.query, tuple(map(titled, group.positives)),
                            tuple(map(titled, group.negatives)))


def read_groups(path: str | Path) -> list[TrainingGroup]:
    """All groups of a file; an empty file is an error."""
    groups = list(iter_groups(path))
    if not groups:
        raise RqbenchError("no training groups in this file", path)
    return groups


def _parse_group(data: Any, path: Path, lineno: int) -> TrainingGroup:
    def fail(problem: str) -> RqbenchError:
        return RqbenchError(problem, path, lineno)

    if not isinstance(data, dict):
        raise fail(f"expected a JSON object, found {_json_type(data)}")
    query_id = data.get("query_id")
    if query_id is None:
        raise fail("missing 'query_id'")
    if not isinstance(query_id, str) or not query_id.strip():
        raise fail(f"'query_id' must be a non-empty string, found {_json_type(query_id)}")
    if "query" not in data:
        raise fail(f"missing 'query' (query '{query_id}')")
    query = data["query"]
    if not isinstance(query, str):
        raise fail(f"'query' must be a string, found {_json_type(query)} (query '{query_id}')")
    if not query.strip():
        raise fail(f"empty 'query' (query '{query_id}')")
    positives = _parse_passages(data, "positives", query_id, fail)
    if not positives:
        raise fail(f"no positives (query '{query_id}'); every group needs at least one")
    negatives = _parse_passages(data, "negatives", query_id, fail) if "negatives" in data else ()
    return TrainingGroup(query_id, query, positives, negatives)


def _parse_passages(data: dict[str, Any], key: str, query_id: str, fail: Any) -> tuple[Passage, ...]:
    items = data.get(key)
    if items is None:
        if key == "positives":
            raise fail(f"missing 'positives' (query '{query_id}')")
        return ()
    if not isinstance(items, list):
        raise fail(f"'{key}' must be a list, found {_json_type(items)} (query '{query_id}')")
    passages = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise fail(f"{where} must be an object with 'id' and 'text', found {_json_type(item)} "
                       f"(query '{query_id}')")
        pid, text = item.get("id"), item.get("text")
        if not isinstance(pid, str) or not pid:
            raise fail(f"{where}.id must be a non-empty string, found {_json_type(pid)} (query '{query_id}')")
        if not isinstance(text, str):
            raise fail(f"{where}.text must be a string, found {_json_type(text)} (query '{query_id}')")
        if not text.strip():
            raise fail(f"{where}.text is empty (passage '{pid}', query '{query_id}')")
        title = item.get("title")
        if title is not None and not isinstance(title, str):
            raise fail(f"{where}.title must be a string, found {_json_type(title)} (query '{query_id}')")
        passages.append(Passage(pid, text, title))
    return tuple(passages)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def positives_of(qrels: dict[str, int]) -> list[str]:
    """Judged documents with relevance > 0, in the qrels' order."""
    return [docid for docid, rel in qrels.items() if rel > 0]


def query_rng(seed: int, qid: str, purpose: str) -> random.Random:
    """A generator that depends only on (seed, query, purpose): results do not change with query order."""
    return random.Random(f"{seed}:{purpose}:{qid}")


def groups_from_qrels(dataset: Dataset, split: str, negatives: Literal["random", "none"] = "none",
                      n_negatives: int = 0, seed: int = 0) -> list[TrainingGroup]:
    """One group per judged query of `split` with at least one positive in the corpus, ordered by query id.

    Positives: documents judged > 0 (title and text joined as BEIR does). With ``negatives="random"``,
    `n_negatives` documents drawn uniformly from the corpus without replacement, never a positive of
    the query, from a generator seeded by (seed, query id).
    """
    if negatives not in ("random", "none"):
        raise RqbenchError(f"negatives must be 'random' or 'none', got {negatives!r}")
    if n_negatives < 0:
        raise RqbenchError("n_negatives must be >= 0")
    qrels = dataset.split_qrels(split)
    queries = {q.id: q for q in dataset.split_queries(split)}
    corpus = dataset.corpus
    doc_ids = list(corpus)
    groups = []
    for qid in sorted(qrels):
        query = queries.get(qid)
        positive_ids = [d for d in positives_of(qrels[qid]) if d in corpus]
        if query is None or not query.text.strip() or not positive_ids:
            continue
        sampled: list[str] = []
        if negatives == "random" and n_negatives:
            excluded = set(positive_ids)
            rng = query_rng(seed, qid, "random-negatives")
            want = min(n_negatives + len(excluded), len(doc_ids))
            sampled = [doc_ids[i] for i in rng.sample(range(len(doc_ids)), want) if doc_ids[i] not in excluded]
            sampled = sampled[:n_negatives]
        groups.append(TrainingGroup(
            qid, query.text,
            tuple(Passage(d, corpus[d].contents(), corpus[d].title) for d in positive_ids),
            tuple(Passage(d, corpus[d].contents(), corpus[d].title) for d in sampled),
        ))
    if not groups:
        raise RqbenchError(f"split '{split}' has no query with a judged positive in the corpus", dataset.source)
    return groups
