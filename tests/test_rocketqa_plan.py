"""The RocketQA chain as one planned graph (no work done): MD0 -> MC (trained on MD0's negatives, re-ranking
MD0) -> MD1 (MD0's negatives denoised by MC) -> MD2 (MD1's data plus MC's pseudo-labels of MD1's top-k on
unlabeled queries), with seeds: every reference follows the seed, shared work is one node."""

from __future__ import annotations

from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.suite import load_suite

DENSE = 'backend = "dense"\nparams = { max_query_length = 16, max_passage_length = 32 }'
SCAN = """mine_from = "md0"
mine_depth = 100
scan_depth = 20
negatives_per_positive = 4
hard_negatives = 1
batch_size = 8
max_steps = 1"""
SUITE = f"""
[suite]
name = "rocketqa-plan"
dataset = "scifact"
measures = ["RR@10"]
seeds = [1, 2]

[[variants]]
name = "md0"
{DENSE}
train = {{ batch_size = 8, max_steps = 1 }}

[[variants]]
name = "mc"
backend = "cross-encoder"
params = {{ max_length = 64 }}
train = {{ mine_from = "md0", mine_depth = 100, hard_negatives = 4, batch_size = 4, max_steps = 1 }}
rerank = {{ run_of = "md0", depth = 20 }}

[[variants]]
name = "md1"
{DENSE}
[variants.train]
{SCAN}
denoise_with = "mc"

[[variants]]
name = "md1-undenoised"
{DENSE}
[variants.train]
{SCAN}

[[variants]]
name = "md2"
{DENSE}
[variants.train]
{SCAN}
denoise_with = "mc"
augment_with = "mc"
augment_from = "md1"
augment_depth = 20
"""


def plan(tmp_path: Path, data_root: Path, text: str = SUITE):  # type: ignore[no-untyped-def]
    path = tmp_path / "rq.toml"
    path.write_text(text)
    return plan_suite(load_suite(path), data_root)


def test_the_chain_is_wired_seed_by_seed(tmp_path: Path, data_root: Path) -> None:
    graph = plan(tmp_path, data_root)
    steps = {p.variant.name: dict(p.steps) for p in graph.evaluations}
    for s in (1, 2):
        md0, mc, md1 = steps[f"md0[seed={s}]"], steps[f"mc[seed={s}]"], steps[f"md1[seed={s}]"]
        plain, md2 = steps[f"md1-undenoised[seed={s}]"], steps[f"md2[seed={s}]"]
        # MC trains on MD0's train-split run (mined) and re-ranks MD0's test run with its own checkpoint
        assert mc["mine"].inputs["run"].node.inputs["index"].node.inputs["model"].node is md0["train"]
        assert mc["score"].inputs["model"].node is mc["train"]
        assert mc["score"].inputs["run"].node is md0["retrieve"]
        assert mc["train"].params.task == "cross-encoder" and mc["train"].params.trainer["max_length"] == 64
        # MD1: MD0's train run scanned to 20 and scored by MC's checkpoint there, then denoised
        denoise = md1["denoise"]
        assert denoise.params.denoise and denoise.params.scan_depth == 20 and denoise.params.fill_depth == 100
        assert denoise.inputs["scores"].node.inputs["model"].node is mc["train"]
        assert denoise.inputs["run"].node is mc["mine"].inputs["run"].node  # the same MD0 train run
        assert md1["train"].inputs["groups"].node is denoise
        # the undenoised arm: the same scan and counts, no scores
        assert not plain["denoise"].params.denoise and "scores" not in plain["denoise"].inputs
        assert plain["denoise"].inputs["run"].node is denoise.inputs["run"].node
        # MD2: MD1's very groups (one node) plus MC's labels of MD1's unlabeled top 20
        augment = md2["augment"]
        assert augment.inputs["groups"].node is denoise
        assert augment.params.split == "unlabeled" and augment.params.depth == 20
        labelled_run = augment.inputs["run"].node
        assert labelled_run.params.split == "unlabeled"
        assert labelled_run.inputs["index"].node.inputs["model"].node is md1["train"]
        assert augment.inputs["scores"].node.inputs["model"].node is mc["train"]
        assert md2["train"].inputs["groups"].node is augment
    assert steps["mc[seed=1]"]["train"].hash != steps["mc[seed=2]"]["train"].hash


@pytest.mark.parametrize(("old", "new", "message"), [
    ('denoise_with = "mc"\n\n[[variants]]\nname = "md1-', 'denoise_with = "md0"\n\n[[variants]]\nname = "md1-',
     "cannot score pairs"),
    ('augment_from = "md1"\n', "", "go together"),
    ("mine_depth = 100\nscan", "mine_depth = 10\nscan", "must not exceed train.mine_depth"),
    ("augment_depth = 20", 'augment_depth = 20\naugment_split = "nope"', "no queries for split 'nope'"),
    ("augment_depth = 20", 'augment_depth = 20\naugment_split = "test"', "would leak them"),
])
def test_bad_chains_are_one_line_errors(tmp_path: Path, data_root: Path, old: str, new: str, message: str) -> None:
    assert old in SUITE
    with pytest.raises(RqbenchError, match=message):
        plan(tmp_path, data_root, SUITE.replace(old, new, 1))


def test_rerankers_reranking_each_other_are_a_cycle_but_a_reranker_of_its_own_student_is_not(
        tmp_path: Path, data_root: Path) -> None:
    loop = SUITE + ('\n[[variants]]\nname = "ce1"\nbackend = "cross-encoder"\nrerank = { run_of = "ce2" }\n'
                    '\n[[variants]]\nname = "ce2"\nbackend = "cross-encoder"\nrerank = { run_of = "ce1" }\n')
    with pytest.raises(RqbenchError, match="re-rank each other in a cycle: ce1 -> ce2 -> ce1"):
        plan(tmp_path, data_root, loop)
    # MC re-ranking MD2, whose training data MC denoised and labelled: no cycle (MC's training comes first)
    graph = plan(tmp_path, data_root, SUITE.replace('rerank = { run_of = "md0", depth = 20 }',
                                                    'rerank = { run_of = "md2", depth = 20 }'))
    steps = {p.variant.name: dict(p.steps) for p in graph.evaluations}
    assert steps["mc[seed=1]"]["score"].inputs["run"].node is steps["md2[seed=1]"]["retrieve"]


def test_augmenting_a_split_is_a_leak_only_where_a_user_of_the_model_is_evaluated_on_it(
        tmp_path: Path, data_root: Path) -> None:
    held = ('\n[[evaluation]]\nname = "held"\nsplit = "train"\nmeasures = ["RR@10"]\n'
            '[[evaluation]]\nname = "main"\nsplit = "test"\nmeasures = ["RR@10"]\n')
    suite = SUITE.replace('seeds = [1, 2]\n', 'seeds = [1, 2]\n' + held, 1)
    # md2 labels the training queries; only md0 is evaluated on them, and md0 does not use md2's model
    suite = suite.replace("augment_depth = 20", 'augment_depth = 20\naugment_split = "train"', 1)
    suite = suite.replace('name = "md0"\n', 'name = "md0"\nevaluate_on = ["held", "main"]\n', 1)
    for name in ("mc", "md1", "md1-undenoised", "md2"):
        suite = suite.replace(f'name = "{name}"\n', f'name = "{name}"\nevaluate_on = ["main"]\n', 1)
    assert plan(tmp_path, data_root, suite).evaluations
    # a re-ranker of md2's run evaluated on them would see queries md2 trained on
    leaky = suite + ('\n[[variants]]\nname = "rr"\nbackend = "cross-encoder"\nevaluate_on = ["held"]\n'
                     'train = { mine_from = "md0", mine_depth = 100, hard_negatives = 4, max_steps = 1 }\n'
                     'rerank = { run_of = "md2", depth = 5 }\n')
    with pytest.raises(RqbenchError, match=r"is evaluation set 'held' \(through 'rr"):
        plan(tmp_path, data_root, leaky)


def test_the_labeller_audited_on_a_held_apart_labelled_split_is_planned_beside_md2(
        tmp_path: Path, data_root: Path) -> None:
    audited = SUITE.replace("augment_depth = 20", 'augment_depth = 20\naugment_audit_split = "test"', 1)
    before = {p.variant.name: dict(p.steps) for p in plan(tmp_path, data_root).evaluations}
    steps = {p.variant.name: dict(p.steps) for p in plan(tmp_path, data_root, audited).evaluations}
    for s in (1, 2):
        md1, mc, md2 = steps[f"md1[seed={s}]"], steps[f"mc[seed={s}]"], steps[f"md2[seed={s}]"]
        audit = md2["augment_audit"]
        # the same labeller (MC's checkpoint scoring MD1's run), thresholds and depth, on the audit split
        assert audit.kind.name == "augment" and audit.params.split == "test"
        assert audit.params.depth == md2["augment"].params.depth == 20
        assert audit.inputs["run"].node.params.split == "test"
        assert audit.inputs["run"].node.inputs["index"].node.inputs["model"].node is md1["train"]
        assert audit.inputs["scores"].node.inputs["model"].node is mc["train"]
        # nothing trains on it: MD2's training data and model are those of the suite without the audit
        assert md2["train"].inputs["groups"].node is md2["augment"]
        assert md2["train"].hash == before[f"md2[seed={s}]"]["train"].hash


def test_the_audit_checks_the_retriever_whose_top_k_is_labelled_and_needs_a_labeller(
        tmp_path: Path, data_root: Path) -> None:
    # md2 and MC train on "train"; md1 (whose top-k MC labels) trains on "test", the audited split
    leaky = SUITE.replace("augment_depth = 20", 'augment_depth = 20\naugment_audit_split = "test"', 1)
    leaky = leaky.replace('name = "md1"\n' + DENSE + "\n[variants.train]\n",
                          'name = "md1"\n' + DENSE + '\n[variants.train]\nsplit = "test"\n', 1)
    with pytest.raises(RqbenchError, match=r"shares 300 queries with split 'test', which 'md1\[seed=1\]' trains on"):
        plan(tmp_path, data_root, leaky)
    alone = SUITE.replace('augment_with = "mc"\naugment_from = "md1"\n', 'augment_audit_split = "test"\n', 1)
    with pytest.raises(RqbenchError, match="no labeller to audit"):
        plan(tmp_path, data_root, alone)


def test_the_audit_follows_the_labellers_models_all_the_way_back(tmp_path: Path, data_root: Path) -> None:
    audited = SUITE.replace("augment_depth = 20", 'augment_depth = 20\naugment_audit_split = "test"', 1)
    # the labeller starts from a cross-encoder trained on the audited split
    mc0 = ('\n[[variants]]\nname = "mc0"\nbackend = "cross-encoder"\nparams = { max_length = 64 }\n'
           'train = { split = "test", mine_from = "md0", mine_depth = 100, hard_negatives = 4, max_steps = 1 }\n'
           'rerank = { run_of = "md0", depth = 20 }\n')
    started = audited.replace('train = { mine_from = "md0", mine_depth = 100, hard_negatives = 4, batch_size = 4',
                              'train = { init_from = "mc0", mine_from = "md0", mine_depth = 100, hard_negatives = 4, '
                              'batch_size = 4', 1) + mc0
    with pytest.raises(RqbenchError, match=r"shares 300 queries with split 'test', which 'mc0\[seed=1\]' trains on"):
        plan(tmp_path, data_root, started)
    # the labelled top-k is a re-ranking (no training of its own) of a retriever trained on the audited split
    mdx = (f'\n[[variants]]\nname = "mdx"\n{DENSE}\ntrain = {{ split = "test", batch_size = 8, max_steps = 1 }}\n'
           '\n[[variants]]\nname = "rr"\nbackend = "cross-encoder"\nparams = { max_length = 64 }\n'
           'rerank = { run_of = "mdx", depth = 20 }\n')
    unseeded = audited.replace("seeds = [1, 2]\n", "", 1)  # an untrained re-ranker follows an unseeded retriever
    reranked = unseeded.replace('augment_from = "md1"', 'augment_from = "rr"', 1) + mdx
    with pytest.raises(RqbenchError, match=r"shares 300 queries with split 'test', which 'mdx' trains on"):
        plan(tmp_path, data_root, reranked)


@pytest.mark.parametrize(("split", "message"), [
    ("unlabeled", "is the augmented split itself"),
    ("train", r"shares 809 queries with split 'train', which 'md2\[seed=1\]' trains on"),
    ("nope", "no queries and qrels for split 'nope'"),
])
def test_a_labeller_audit_split_that_would_mislead_is_a_one_line_error(
        tmp_path: Path, data_root: Path, split: str, message: str) -> None:
    with pytest.raises(RqbenchError, match=message):
        plan(tmp_path, data_root,
             SUITE.replace("augment_depth = 20", f'augment_depth = 20\naugment_audit_split = "{split}"', 1))
