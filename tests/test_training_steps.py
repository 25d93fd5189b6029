"""The training steps are declarations (rqbench.plan.steps): each names a stage kind that makes groups, the
[variants.train] keys it reads and the references it follows into that kind's inputs; the planner knows none
by name. Checked here: the declarations agree with the stage kinds and the trainer's settings, the suite's
reference check and the trainer's key split read them, and a step declared from outside reaches a variant's
chain with no planner change."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite, steps
from rqbench.plan.steps import (
    TRAIN_NODE_FOLLOWS,
    TRAIN_NODE_KEYS,
    Follows,
    Planning,
    StepInput,
    TrainingStep,
    pipeline_keys,
)
from rqbench.plan.values import Step, seed_of, stage_params
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.hybrid import HybridParams
from rqbench.suite import load_suite
from rqbench.training.config import TrainConfig


def test_every_declaration_agrees_with_its_stage_kind_and_the_trainer() -> None:
    trainer_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    positions = [s.position for s in steps.STEPS]  # every source before every transform, the default among them
    assert positions == sorted(positions, key=["source", "transform"].index) and "groups" in [
        s.kind for s in steps.STEPS if s.position == "source"]
    for step in steps.STEPS:
        kind = STAGE_KINDS[step.kind]
        assert kind.output == "groups", step.kind  # a step makes training groups
        for f in step.follows:
            assert f.key in step.keys and f.feeds in kind.inputs, (step.kind, f)
        assert not set(step.keys) & trainer_fields, step.kind  # a key is the planner's or the trainer's
    train = STAGE_KINDS["train"]
    assert all(f.key in TRAIN_NODE_KEYS and f.feeds in train.inputs for f in TRAIN_NODE_FOLLOWS)
    assert pipeline_keys() == set(TRAIN_NODE_KEYS) | {k for s in steps.STEPS for k in s.keys}


def test_a_follows_takes_one_of_three_things() -> None:
    with pytest.raises(ValueError, match="takes"):
        Follows("mine_from", "model", "run")  # type: ignore[arg-type]


SUITE = """
[suite]
name = "declared"
dataset = "scifact"
measures = ["RR@10"]

[[variants]]
name = "md0"
backend = "dense"
params = {{ max_query_length = 16, max_passage_length = 32 }}
train = {{ batch_size = 8, max_steps = 1 }}

[[variants]]
name = "md1"
backend = "dense"
params = {{ max_query_length = 16, max_passage_length = 32 }}
train = {{ mine_from = "md0", mine_depth = 20, hard_negatives = 2, batch_size = 8, max_steps = 1{extra} }}
"""


def _doubled(p: Planning, s: StepInput) -> tuple[Node, list[Step]]:
    """A toy transform: each list's negatives drawn from the groups so far, twice over (a hybrid node)."""
    assert s.groups is not None
    node = p.add(Node(STAGE_KINDS["hybrid"], stage_params(
        HybridParams, s.where, split=s.split, undenoised=int(s.table["toy_copies"]), denoised=0,
        seed=seed_of(s.variant, p.suite)), {"undenoised": Input(s.groups), "denoised": Input(s.groups)},
        s.dataset, label=s.variant.name))
    return node, [("toy", node)]


def _plan(tmp_path: Path, data_root: Path, extra: str) -> Any:
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(extra=extra))
    return plan_suite(load_suite(path), data_root)


def test_a_step_declared_outside_the_planner_joins_the_chain(tmp_path: Path, data_root: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    toy = TrainingStep(kind="hybrid", position="transform", keys=("toy_copies",), follows=(),
                       applies=lambda table: "toy_copies" in table, plan=_doubled)
    before = _plan(tmp_path, data_root, "")
    with pytest.raises(RqbenchError, match="toy_copies"):  # unknown to the planner: a trainer setting, refused
        _plan(tmp_path, data_root, ", toy_copies = 2")
    monkeypatch.setattr(steps, "STEPS", (*steps.STEPS, toy))
    after = _plan(tmp_path, data_root, ", toy_copies = 2")
    md1 = next(e for e in after.evaluations if e.variant.name == "md1")
    roles = [role for role, _ in md1.steps]
    assert roles.index("mine") < roles.index("toy") < roles.index("train")
    train = dict(md1.steps)["train"]
    toy_node = dict(md1.steps)["toy"]
    assert train.inputs["groups"].node is toy_node and toy_node.inputs["undenoised"].node is dict(md1.steps)["mine"]
    # the trainer's settings did not take the step's key, and md0's chain is as before
    assert "toy_copies" not in train.params.trainer
    md0 = [e for e in after.evaluations if e.variant.name == "md0"]
    assert [n.hash for _, n in md0[0].steps] == [n.hash for _, n in
                                                  next(e for e in before.evaluations if e.variant.name == "md0").steps]
