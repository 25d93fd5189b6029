"""RocketQAv2's joint training as planned graph (no work done): the dense variant's train node (task 'joint')
warm-starts its retriever from MD0 (`init_from`) and its re-ranker from MC's trained cross-encoder
(`reranker_from`), one run serves `retriever/` to the dense variant's index and `reranker/` to a cross-encoder
variant (`model_from`), seed by seed; wrong wiring is a one-line error naming the suite file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.suite import load_suite

DENSE = 'backend = "dense"\nparams = { max_query_length = 16, max_passage_length = 32 }'
SUITE = f"""
[suite]
name = "v2-plan"
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
name = "v2"
{DENSE}
[variants.train]
task = "joint"
init_from = "md0"
reranker_from = "mc"
mine_from = "md0"
mine_depth = 50
hard_negatives = 3
max_length = 64
batch_size = 4
max_steps = 1

[[variants]]
name = "v2-reranker"
backend = "cross-encoder"
params = {{ max_length = 64 }}
model_from = "v2"
rerank = {{ run_of = "v2", depth = 20 }}
"""


def plan(tmp_path: Path, data_root: Path, text: str = SUITE):  # type: ignore[no-untyped-def]
    path = tmp_path / "v2.toml"
    path.write_text(text)
    return plan_suite(load_suite(path), data_root)


def test_one_joint_run_serves_the_retriever_and_the_reranker_seed_by_seed(tmp_path: Path, data_root: Path) -> None:
    graph = plan(tmp_path, data_root)
    steps = {p.variant.name: dict(p.steps) for p in graph.evaluations}
    assert sorted(steps) == sorted(f"{arm}[seed={s}]" for arm in ("mc", "md0", "v2", "v2-reranker") for s in (1, 2))
    for s in (1, 2):
        md0, mc, v2 = steps[f"md0[seed={s}]"], steps[f"mc[seed={s}]"], steps[f"v2[seed={s}]"]
        reranker = steps[f"v2-reranker[seed={s}]"]
        joint = v2["train"]
        assert joint.params.task == "joint"
        assert joint.inputs["init"].node is md0["train"] and joint.inputs["init"].part == "model"
        assert joint.inputs["reranker"].node is mc["train"] and joint.inputs["reranker"].part == "model"
        assert joint.inputs["groups"].node is v2["mine"]  # lists: md0's negatives of the training queries
        # the dense variant reads the joint run's retriever, the cross-encoder variant its re-ranker
        model = v2["index"].inputs["model"]
        assert (model.node, model.part) == (joint, "retriever")
        scorer = reranker["score"].inputs["model"]
        assert (scorer.node, scorer.part) == (joint, "reranker")
        assert reranker["score"].inputs["run"].node is v2["retrieve"]
        assert "train" not in reranker  # no training of its own: the joint run is one node
        assert [n for n in graph.nodes.values() if n is joint] == [joint]
    assert steps["v2[seed=1]"]["train"].hash != steps["v2[seed=2]"]["train"].hash


def test_model_from_a_dual_encoder_reads_its_model_with_other_params(tmp_path: Path, data_root: Path) -> None:
    """A variant may evaluate another's trained model at other settings (here: longer passages)."""
    longer = SUITE + ('\n[[variants]]\nname = "md0-64"\nbackend = "dense"\n'
                      'params = { max_query_length = 16, max_passage_length = 64 }\nmodel_from = "md0"\n')
    steps = {p.variant.name: dict(p.steps) for p in plan(tmp_path, data_root, longer).evaluations}
    for s in (1, 2):
        model = steps[f"md0-64[seed={s}]"]["index"].inputs["model"]
        assert (model.node, model.part) == (steps[f"md0[seed={s}]"]["train"], "model")
        assert steps[f"md0-64[seed={s}]"]["index"].hash != steps[f"md0[seed={s}]"]["index"].hash


JOINT = 'task = "joint"\ninit_from = "md0"\nreranker_from = "mc"\n'


@pytest.mark.parametrize(("old", "new", "message"), [
    (JOINT, 'task = "joint"\ninit_from = "md0"\n', "needs the re-ranker to start from"),
    (JOINT, JOINT + 'reranker_model = "minilm"\n', "choose one re-ranker"),
    (JOINT, 'task = "joint"\ninit_from = "md0"\nreranker_from = "md0"\n', "trains no cross-encoder"),
    (JOINT, 'init_from = "md0"\nreranker_from = "mc"\n', "set train.task = 'joint'"),
    (JOINT, JOINT.replace('"mc"', '"nope"'), "names unknown variant 'nope'"),
    ('model_from = "v2"\n', 'model_from = "md0"\n', "gives no model for backend 'cross-encoder'"),
    ('model_from = "v2"\n', 'model_from = "v9"\n', "names unknown variant 'v9'"),
    ('model_from = "v2"\n', 'model_from = "v2"\ntrain = { max_steps = 1 }\n', "either trains its model"),
    ('model_from = "v2"\n', 'model_from = 3\n', "model_from must name the variant"),
    # RocketQAv2's pseudo-labelled lists must be as long as the others (4 negatives by default, K - 1 = 3 here)
    (JOINT, JOINT.replace("init_from", 'augment_with = "mc"\naugment_from = "md0"\naugment_negatives = 2\n'
                          'init_from'), r"augment_negatives \(2\) is below train.hard_negatives \(3\)"),
])
def test_bad_joint_wiring_is_a_one_line_error(tmp_path: Path, data_root: Path, old: str, new: str,
                                              message: str) -> None:
    assert old in SUITE
    with pytest.raises(RqbenchError, match=message) as caught:
        plan(tmp_path, data_root, SUITE.replace(old, new, 1))
    assert "\n" not in str(caught.value) and "v2.toml:" in str(caught.value)


def test_init_from_a_joint_run_takes_the_part_its_backend_loads(tmp_path: Path, data_root: Path) -> None:
    """A cross-encoder that continues training from a joint run starts from its re-ranker, not its retriever."""
    more = SUITE + ('\n[[variants]]\nname = "ce-more"\nbackend = "cross-encoder"\nparams = { max_length = 64 }\n'
                    'train = { init_from = "v2", mine_from = "md0", mine_depth = 50, hard_negatives = 2, '
                    'max_steps = 1 }\nrerank = { run_of = "md0", depth = 10 }\n')
    steps = {p.variant.name: dict(p.steps) for p in plan(tmp_path, data_root, more).evaluations}
    init = steps["ce-more[seed=1]"]["train"].inputs["init"]
    assert (init.node, init.part) == (steps["v2[seed=1]"]["train"], "reranker")


def test_joint_training_belongs_on_the_dense_variant(tmp_path: Path, data_root: Path) -> None:
    wrong = SUITE.replace('model_from = "v2"\n', 'train = { task = "joint", reranker_from = "mc", mine_from = '
                                                 '"md0", hard_negatives = 3 }\n', 1)
    with pytest.raises(RqbenchError, match="belongs on the dense variant"):
        plan(tmp_path, data_root, wrong)


def test_model_from_chains_and_cycles(tmp_path: Path, data_root: Path) -> None:
    """A model taken from a variant that itself takes it resolves to the same train node; a loop is an error."""
    chain = SUITE + ('\n[[variants]]\nname = "v2-again"\nbackend = "cross-encoder"\nparams = { max_length = 32 }\n'
                     'model_from = "v2-reranker"\nrerank = { run_of = "md0", depth = 10 }\n')
    steps = {p.variant.name: dict(p.steps) for p in plan(tmp_path, data_root, chain).evaluations}
    assert steps["v2-again[seed=1]"]["score"].inputs["model"].node is steps["v2[seed=1]"]["train"]
    loop = SUITE + ('\n[[variants]]\nname = "a"\nbackend = "dense"\nmodel_from = "b"\n'
                    '\n[[variants]]\nname = "b"\nbackend = "dense"\nmodel_from = "a"\n')
    with pytest.raises(RqbenchError, match="cycle: a -> b -> a"):
        plan(tmp_path, data_root, loop)
