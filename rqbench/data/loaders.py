"""load_dataset: resolve the spec, read the files of a dataset folder (or ir_datasets), assemble."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rqbench.data.assemble import Assembler
from rqbench.data.dataset import Dataset
from rqbench.data.irds import load_irds
from rqbench.data.layout import Layout, detect_format, discover, expected_corpus_names
from rqbench.data.readers import SGML_SUFFIXES, read_corpus, read_queries
from rqbench.data.resolve import Plan, resolve_spec
from rqbench.errors import RqbenchError
from rqbench.types import Doc, OnError, read_qrels, report, reported

DatasetSpec = str | Path | Mapping[str, Any]
T = TypeVar("T")


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


def folder_files(plan: Plan) -> tuple[Layout, str | None]:
    """The files a folder plan reads (explicit files in the plan over discovered ones) and its format
    (None: no corpus file to tell it). Only directory listings are read."""
    folder = plan.folder
    assert folder is not None
    fmt = plan.fmt or detect_format(folder)
    found = discover(folder, fmt)
    corpus = plan.corpus or found.corpus
    fmt = fmt or (_format_of(corpus) if corpus is not None else None)
    if plan.queries is not None:
        found.queries, found.pool = plan.queries, None
    if plan.qrels is not None:
        found.qrels = plan.qrels
    found.corpus = corpus
    return found, fmt


def load_folder(plan: Plan, on_error: OnError | None = None) -> tuple[Dataset, str]:
    """Read and assemble a folder. With `on_error`, every problem of every file is reported to it and
    reading goes on (errors of the assembly, after all files are read, are still raised)."""
    folder = plan.folder
    assert folder is not None
    layout, fmt = folder_files(plan)
    corpus: dict[str, Doc] = {}
    if layout.corpus is None:
        problem = f"no corpus file in this folder (expected {expected_corpus_names(plan.fmt)})"
        report(RqbenchError(problem, folder), on_error)
    else:
        with reported(on_error):
            corpus = read_corpus(layout.corpus, fmt, on_error)

    def queries_of(path: Path) -> dict:
        return read_queries(path, fmt, on_error)

    def qrels_of(path: Path) -> dict:
        return read_qrels(path, on_error)

    queries = _each(layout.queries, queries_of, on_error)
    qrels = _each(layout.qrels, qrels_of, on_error)
    pool = None
    if layout.pool is not None:
        with reported(on_error):
            pool = (queries_of(layout.pool), layout.pool)

    assembler = Assembler(plan.name, str(folder), root=folder)
    return assembler.build(corpus, layout.corpus or folder, queries, qrels, pool), fmt or "tsv"


def _each(
    files: dict[str, Path], read: Callable[[Path], T], on_error: OnError | None
) -> dict[str, tuple[T, Path]]:
    """split -> (parsed file, file); with `on_error`, a file that cannot be read is reported and left out."""
    parsed: dict[str, tuple[T, Path]] = {}
    for split, path in files.items():
        with reported(on_error):
            parsed[split] = (read(path), path)
    return parsed


def _format_of(corpus: Path) -> str:
    suffix = Path(corpus.name.lower().removesuffix(".gz")).suffix
    if suffix == ".jsonl":
        return "beir"
    return "trec" if suffix in SGML_SUFFIXES else "tsv"
