"""Datasets from the ir_datasets catalogue (optional dependency: pip install 'rqbench[irds]').

The split is the id's last component ("beir/scifact/test" -> "test"). Problems in a catalogue's data
cannot be fixed by the user, so duplicates and empty query texts are counted warnings here, not errors.
"""

from __future__ import annotations

from typing import Any

from rqbench.data.assemble import Assembler
from rqbench.data.dataset import Dataset
from rqbench.errors import DataUnavailable, RqbenchError
from rqbench.types import RELEVANCE_MAX, RELEVANCE_MIN, Doc, Qrels, Query, check_id, show_id


def open_irds(dataset_id: str, name: str, where: str | None = None) -> Any:
    """The ir_datasets dataset (nothing is read yet); a missing package or unknown id is one line."""
    try:
        import ir_datasets
    except ImportError:
        raise DataUnavailable(f"'{name}' is not in the data folder and loading it as ir_datasets id '{dataset_id}' "
                           "needs ir_datasets: pip install 'rqbench[irds]'" if name != dataset_id else
                           "ir_datasets is not installed: pip install 'rqbench[irds]'", where) from None
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise RqbenchError(f"unknown ir_datasets id '{dataset_id}'", where) from None


def irds_split(dataset_id: str, split: str | None = None) -> str:
    """The split name an id's queries and qrels get: `split`, else the id's last part."""
    return split or dataset_id.rstrip("/").rsplit("/", 1)[-1]


def irds_qrels(dataset_id: str, name: str, where: str | None = None) -> Qrels:
    """Only the qrels of an ir_datasets id (documents and queries are not read); ids are checked."""
    ds = open_irds(dataset_id, name, where)
    qrels = _qrels(ds, dataset_id)
    if not qrels:
        raise RqbenchError(f"ir_datasets '{dataset_id}' has no qrels", where)
    for qid, judged in qrels.items():
        check_id("query", qid, dataset_id)
        for docid in judged:
            check_id("document", docid, dataset_id)
    return qrels


def load_irds(dataset_id: str, name: str, where: str | None = None, split: str | None = None) -> Dataset:
    """The whole dataset in memory. ir_datasets fetches its files on first use: a fetch that fails (offline,
    a source that asks for a manual download) is `DataUnavailable`, one line."""
    ds = open_irds(dataset_id, name, where)
    try:
        return _read(ds, dataset_id, name, where, split)
    except RqbenchError:
        raise
    except (OSError, RuntimeError) as exc:  # a failed fetch (offline, a manual-download source): not here
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise DataUnavailable(f"ir_datasets '{dataset_id}': its files cannot be read here ({type(exc).__name__}: "
                              f"{first}); ir_datasets downloads them on first use, online", where) from None


def _read(ds: Any, dataset_id: str, name: str, where: str | None, split: str | None) -> Dataset:
    if not ds.has_docs():
        raise RqbenchError(f"ir_datasets '{dataset_id}' has no documents", where)
    if not ds.has_queries():
        raise RqbenchError(f"ir_datasets '{dataset_id}' has no queries", where)

    assembler = Assembler(name, dataset_id)
    corpus: dict[str, Doc] = {}
    duplicates = 0
    for record in ds.docs_iter():
        doc = Doc(str(record.doc_id), _field(record, "title"), _text(record, "text"))
        if doc.id in corpus:
            duplicates += 1
        else:
            corpus[doc.id] = doc
    if duplicates:
        assembler.warnings.append(f"{dataset_id}: {duplicates} duplicate document ids (first kept)")
    if not corpus:
        raise RqbenchError("corpus is empty", dataset_id)

    queries: dict[str, Query] = {}
    empty = 0
    for record in ds.queries_iter():
        query = Query(str(record.query_id), _text(record, "text", "title"))
        if not query.text.strip():
            empty += 1
        elif query.id not in queries:
            queries[query.id] = query
    if empty:
        assembler.warnings.append(f"{dataset_id}: {empty} queries with an empty text (dropped)")

    split = irds_split(dataset_id, split)
    qrels = _qrels(ds, dataset_id)
    return assembler.build(
        corpus, dataset_id, {split: (queries, dataset_id)}, {split: (qrels, dataset_id)} if qrels else {}
    )


def _qrels(ds: Any, dataset_id: str) -> Qrels:
    qrels: Qrels = {}
    if ds.has_qrels():
        for record in ds.qrels_iter():
            grade = int(record.relevance)
            if not RELEVANCE_MIN <= grade <= RELEVANCE_MAX:  # as the qrels file readers refuse it
                raise RqbenchError(f"relevance {grade} of query {show_id(str(record.query_id))}, document "
                                   f"{show_id(str(record.doc_id))} is outside the accepted range "
                                   f"{RELEVANCE_MIN}..{RELEVANCE_MAX}", dataset_id)
            qrels.setdefault(str(record.query_id), {})[str(record.doc_id)] = grade
    return qrels


def _field(record: Any, name: str) -> str:
    value = getattr(record, name, None)
    return value if isinstance(value, str) else ""


def _text(record: Any, *names: str) -> str:
    """The first non-empty named field, else the record's default_text() (ir_datasets' own choice)."""
    for name in names:
        value = _field(record, name)
        if value:
            return value
    default = getattr(record, "default_text", None)
    return default() if callable(default) else ""
