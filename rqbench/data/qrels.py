"""qrels_for: the qrels of one split of a dataset, named like any dataset (folder, short name, ir_datasets
id), read without its corpus or queries (reading a corpus takes seconds, a qrels file milliseconds).

The qrels file is returned as it is: load_dataset also drops the judgements of query ids that have no
query text (with a warning), qrels_for cannot know them without reading the queries.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from rqbench.data.irds import irds_qrels, irds_split
from rqbench.data.loaders import folder_files
from rqbench.data.resolve import resolve_spec
from rqbench.errors import RqbenchError
from rqbench.types import Qrels, read_qrels


def qrels_for(dataset: str, split: str, data_root: Path | None = None) -> tuple[Qrels, str]:
    """The qrels of `split` of `dataset` and a label for them, e.g. "scifact (test)".

    A split without qrels is one line naming the closest split and every split that has qrels.
    """
    plan = resolve_spec(dataset, data_root)
    label = f"{plan.name} ({split})"
    if plan.irds_id is not None:
        have = irds_split(plan.irds_id, plan.split)
        if split != have:
            raise no_qrels_error(plan.name, split, [have], plan.irds_id)
        return irds_qrels(plan.irds_id, plan.name), label
    layout, _ = folder_files(plan)
    if split not in layout.qrels:
        raise no_qrels_error(plan.name, split, layout.qrels, plan.folder)
    return read_qrels(layout.qrels[split]), label


def no_qrels_error(name: str, split: str, have: Iterable[str], where: str | Path | None) -> RqbenchError:
    """"dataset 'x' has no qrels for split 'tset' (did you mean 'test'? splits with qrels: test, train)"."""
    splits = sorted(set(have))
    close = difflib.get_close_matches(split, splits, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    listed = ", ".join(splits) if splits else "none"
    return RqbenchError(f"dataset '{name}' has no qrels for split '{split}' ({hint}splits with qrels: {listed})", where)
