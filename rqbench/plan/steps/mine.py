"""Mined hard negatives: the `mine_from` variant's run on the training split, to `mine_depth`, as each query's
candidate pool (`rqbench.stages.mine`); the trainer draws `hard_negatives` of them per query."""

from __future__ import annotations

from typing import Any

from rqbench.errors import RqbenchError
from rqbench.plan.steps.base import Follows, Planning, StepInput, TrainingStep
from rqbench.plan.values import Step, stage_params, whole
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.mine import MineParams


def check(table: dict[str, Any], where: str) -> None:
    """The rules of a mined negative pool, denoised or not."""
    if "mine_depth" in table and table.get("mine_from") is None:
        raise RqbenchError("train.mine_depth without train.mine_from: there is no run to mine", where)
    if table.get("mine_from") is not None:
        if not whole(table, "hard_negatives", int, 0, where, minimum=0):
            raise RqbenchError("train.mine_from without train.hard_negatives: the mined negatives would not be "
                               "used", where)
        if whole(table, "random_negatives", int, 0, where, minimum=0):
            raise RqbenchError("train.random_negatives and train.mine_from: choose one negative source", where)


def plan(p: Planning, s: StepInput) -> tuple[Node, list[Step]]:
    depth = whole(s.table, "mine_depth", int, 100, s.where, minimum=1)
    source = p.suite.reference(s.table["mine_from"], s.variant)
    run, steps = p.run_of(source, s.dataset, s.split, depth, False, "mine_from:")
    node = p.add(Node(STAGE_KINDS["mine"], stage_params(MineParams, s.where, split=s.split, depth=depth, **s.fps),
                      {"run": Input(run)}, s.dataset, label=s.variant.name))
    return node, [*steps, ("mine", node)]


STEP = TrainingStep(kind="mine", position="source", keys=("mine_from", "mine_depth"),
                    follows=(Follows("mine_from", "run", "run"),),
                    applies=lambda table: table.get("mine_from") is not None, plan=plan, check=check,
                    doc="hard negatives mined from another variant's run on the training split")
