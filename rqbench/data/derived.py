"""Derived splits: a seeded sample of a split's queries held apart, or a split without other splits' queries.

RocketQA's teacher must be judged on queries it was not trained on, and a pseudo-labeller measured on
labelled queries whose labels it never saw; a suite makes such splits from the splits a dataset ships:

    [[splits]]
    name = "dev"          # 200 training queries held apart
    from = "train"
    sample = 200
    seed = 0
    [[splits]]
    name = "fit"          # the training queries without them
    from = "train"
    exclude = ["dev"]

A sample draws from the split's queries that have qrels when the split has qrels (so every held-apart
query can be scored), less those of the `exclude`d splits (so `sample = 100` with `exclude = ["dev"]` is 100
queries none of which is in 'dev'), sorted by id and shuffled with `random.Random(f"{seed}:split:{name}")`. Queries and
qrels are restricted to the chosen ids; the derived split's content fingerprints follow its content, so
two suites that derive the same split share its artifacts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rqbench.data.dataset import Dataset
from rqbench.errors import RqbenchError


@dataclass(frozen=True)
class SplitSpec:
    name: str
    source: str  # the split it is derived from (`from`)
    sample: int | None = None
    exclude: tuple[str, ...] = ()
    seed: int = 0
    line: int | None = None


def derive_splits(dataset: Dataset, specs: list[SplitSpec], where: str | None = None) -> None:
    """Add every derived split of `specs` (in order: a later one may exclude an earlier one) to `dataset`."""
    for spec in specs:
        at = f"{where}:{spec.line}" if where and spec.line else where
        if spec.name in dataset.queries or spec.name in dataset.qrels:
            raise RqbenchError(f"split '{spec.name}' already exists in dataset '{dataset.name}'; name the derived "
                               "split differently", at)
        if spec.source not in dataset.queries:
            from rqbench.errors import did_you_mean

            raise RqbenchError(f"splits: dataset '{dataset.name}' has no split '{spec.source}' to derive "
                               f"'{spec.name}' from" + did_you_mean(spec.source, dataset.queries), at)
        queries = dataset.queries[spec.source]
        qrels = dataset.qrels.get(spec.source)
        ids = sorted(q for q in queries if qrels is None or q in qrels)
        for other in spec.exclude:
            if other not in dataset.queries:
                raise RqbenchError(f"splits: '{spec.name}' excludes unknown split '{other}' (a derived split must "
                                   "come before the splits that exclude it)", at)
            ids = [q for q in ids if q not in dataset.queries[other]]
        if spec.sample is not None:
            if spec.sample > len(ids):
                left = " once " + ", ".join(f"'{x}'" for x in spec.exclude) + " are left out" if spec.exclude else ""
                raise RqbenchError(f"splits: '{spec.name}' samples {spec.sample} queries, but '{spec.source}' has "
                                   f"only {len(ids)}" + (" with qrels" if qrels is not None else "") + left, at)
            random.Random(f"{spec.seed}:split:{spec.name}").shuffle(ids)
            ids = sorted(ids[:spec.sample])
        if not ids:
            raise RqbenchError(f"splits: '{spec.name}' has no queries", at)
        dataset.queries[spec.name] = {q: queries[q] for q in ids}
        if qrels is not None:
            dataset.qrels[spec.name] = {q: qrels[q] for q in ids if q in qrels}
