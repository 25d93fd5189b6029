"""Derived splits ([[splits]]): held-apart queries sampled from a real split with a seed, and the split without
them; both planned like shipped splits (their own fingerprints), errors as one line with the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rqbench.data import load_dataset
from rqbench.data.derived import SplitSpec, derive_splits
from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.suite import load_suite

SUITE = """
[suite]
name = "held-apart"
dataset = "scifact"
split = "dev"
measures = ["RR@10"]

[[splits]]
name = "dev"
from = "train"
sample = 100
seed = 3

[[splits]]
name = "fit"
from = "train"
exclude = ["dev"]

[[variants]]
name = "bm25"
backend = "bm25"

[[variants]]
name = "de"
backend = "dense"
params = { max_query_length = 16, max_passage_length = 32 }
train = { split = "fit", batch_size = 8, max_steps = 1 }
"""


def test_a_sample_and_its_complement_partition_the_split(data_root: Path) -> None:
    ds = load_dataset("scifact", data_root)
    train = set(ds.split_qrels("train"))
    derive_splits(ds, [SplitSpec("dev", "train", sample=100, seed=3), SplitSpec("fit", "train", exclude=("dev",))])
    dev, fit = set(ds.queries["dev"]), set(ds.queries["fit"])
    assert len(dev) == 100 and dev <= train and not dev & fit and dev | fit == set(ds.queries["train"])
    assert set(ds.qrels["dev"]) == dev and all(ds.qrels["dev"][q] == ds.qrels["train"][q] for q in dev)
    again = load_dataset("scifact", data_root)
    derive_splits(again, [SplitSpec("dev", "train", sample=100, seed=3)])
    assert set(again.queries["dev"]) == dev  # seeded
    other = load_dataset("scifact", data_root)
    derive_splits(other, [SplitSpec("dev", "train", sample=100, seed=4)])
    assert set(other.queries["dev"]) != dev


def test_derived_splits_are_planned_like_shipped_ones(tmp_path: Path, data_root: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    plan = plan_suite(load_suite(path), data_root)
    steps = {p.variant.name: dict(p.steps) for p in plan.evaluations}
    assert steps["bm25"]["retrieve"].params.split == "dev"
    assert steps["de"]["groups"].params.split == "fit"
    ds = next(iter(plan.datasets.values()))
    assert steps["bm25"]["retrieve"].params.queries == ds.fingerprint("queries/dev")
    assert ds.fingerprint("queries/dev") != ds.fingerprint("queries/train")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("sample = 100", "sample = 100000", "samples 100000 queries, but 'train' has only"),
    ('from = "train"\nsample', 'from = "trian"\nsample', "has no split 'trian'"),
    ('exclude = ["dev"]', 'exclude = ["deve"]', "excludes unknown split 'deve'"),
    ('name = "fit"', 'name = "test"', "split 'test' already exists"),
])
def test_bad_derived_splits_are_one_line_errors(tmp_path: Path, data_root: Path, old: str, new: str,
                                                message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SUITE.replace(old, new, 1))
    with pytest.raises(RqbenchError, match=message) as info:
        plan_suite(load_suite(path), data_root)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("sample = 100", "sample = 0", "split sample must be a positive number"),
    ('exclude = ["dev"]', "seed = 1", "needs sample .queries held apart. or exclude"),
    ("seed = 3", "colour = 3", "unknown split key 'colour'"),
])
def test_bad_split_tables_fail_at_load(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SUITE.replace(old, new, 1))
    with pytest.raises(RqbenchError, match=message) as info:
        load_suite(path)
    assert info.value.line is not None


def test_a_sample_that_excludes_draws_its_whole_size_from_the_rest(data_root: Path) -> None:
    """`sample = 100, exclude = ["dev"]` is 100 queries, none of them in 'dev' (the exclusion comes first)."""
    ds = load_dataset("scifact", data_root)
    derive_splits(ds, [SplitSpec("dev", "train", sample=200, seed=0),
                       SplitSpec("cal", "train", sample=100, exclude=("dev",), seed=1)])
    assert len(ds.queries["cal"]) == 100 and not set(ds.queries["cal"]) & set(ds.queries["dev"])
    assert set(ds.qrels["cal"]) == set(ds.queries["cal"])
    too_many = load_dataset("scifact", data_root)
    with pytest.raises(RqbenchError, match="samples 700 queries, but 'train' has only 609 with qrels once 'dev'"):
        derive_splits(too_many, [SplitSpec("dev", "train", sample=200, seed=0),
                                 SplitSpec("cal", "train", sample=700, exclude=("dev",), seed=1)])
