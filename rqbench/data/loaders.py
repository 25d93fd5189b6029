"""load_dataset: resolve the spec, read the files of a dataset folder (or ir_datasets), assemble."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rqbench.data.assemble import Assembler
from rqbench.data.dataset import Dataset
from rqbench.data.irds import load_irds
from rqbench.data.layout import CORPUS_NAMES, detect_format, discover, expected_corpus_names
from rqbench.data.readers import SGML_SUFFIXES, exact_utf8_line, read_corpus, read_queries
from rqbench.data.resolve import Plan, resolve_spec
from rqbench.errors import RqbenchError
from rqbench.types import Qrels, read_qrels

DatasetSpec = str | Path | Mapping[str, Any]


def load_dataset(spec: DatasetSpec, data_root: Path | None = None, where: str | None = None) -> Dataset:
    """Load a dataset folder, a short name under `data_root`, an ir_datasets id, or a suite table.

    `where` is the suite file to name in errors about the spec itself.
    """
    return load_with_format(spec, data_root, where)[0]


def load_with_format(
    spec: DatasetSpec, data_root: Path | None = None, where: str | None = None
) -> tuple[Dataset, str]:
    """Like load_dataset, and also the format it was read as ('beir', 'tsv', 'trec', 'irds')."""
    plan = resolve_spec(spec, data_root, where)
    if plan.irds_id is not None:
        return load_irds(plan.irds_id, plan.name, where, split=plan.split), "irds"
    return load_folder(plan)


def load_folder(plan: Plan) -> tuple[Dataset, str]:
    folder = plan.folder
    assert folder is not None
    fmt = plan.fmt or detect_format(folder)
    layout = discover(folder, fmt)
    corpus_path = plan.corpus or layout.corpus
    if corpus_path is None:
        expected = " or ".join(CORPUS_NAMES[plan.fmt]) if plan.fmt else expected_corpus_names()
        raise RqbenchError(f"no corpus file in this folder (expected {expected})", folder)
    fmt = fmt or _format_of(corpus_path)

    if plan.queries is not None:
        query_files, pool_file = plan.queries, None
    else:
        query_files, pool_file = layout.queries, layout.pool
    qrels_files = plan.qrels if plan.qrels is not None else layout.qrels

    corpus = read_corpus(corpus_path, fmt)
    queries = {split: (read_queries(path, fmt), path) for split, path in query_files.items()}
    qrels = {split: (_read_qrels(path), path) for split, path in qrels_files.items()}
    pool = (read_queries(pool_file, fmt), pool_file) if pool_file is not None else None

    assembler = Assembler(plan.name, str(folder), root=folder)
    return assembler.build(corpus, corpus_path, queries, qrels, pool), fmt


def _read_qrels(path: Path) -> Qrels:
    with exact_utf8_line(path):
        return read_qrels(path)


def _format_of(corpus: Path) -> str:
    suffix = corpus.suffix.lower()
    if suffix == ".jsonl":
        return "beir"
    return "trec" if suffix in SGML_SUFFIXES else "tsv"
