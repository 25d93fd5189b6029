"""The default source of training groups: each training query's judged positives from the qrels, with
`random_negatives` random corpus passages (`rqbench.stages.groups`)."""

from __future__ import annotations

from rqbench.errors import RqbenchError
from rqbench.plan.steps.base import Planning, StepInput, TrainingStep
from rqbench.plan.values import Step, seed_of, stage_params, whole
from rqbench.stages import STAGE_KINDS, Node
from rqbench.stages.groups import GroupsParams


def plan(p: Planning, s: StepInput) -> tuple[Node, list[Step]]:
    if whole(s.table, "hard_negatives", int, 0, s.where, minimum=0):
        raise RqbenchError("train.hard_negatives needs train.mine_from (the variant whose run on the training split "
                           "they are mined from)", s.where)
    random_negatives = whole(s.table, "random_negatives", int, 0, s.where, minimum=0)
    node = p.add(Node(STAGE_KINDS["groups"], stage_params(
        GroupsParams, s.where, split=s.split, random_negatives=random_negatives, seed=seed_of(s.variant, p.suite),
        **s.fps), dataset=s.dataset, label=s.variant.name))
    return node, [("groups", node)]


STEP = TrainingStep(kind="groups", position="source", keys=("random_negatives",), follows=(),
                    applies=lambda table: True, plan=plan,
                    doc="the qrels' positives with random_negatives random passages (the default source)")
