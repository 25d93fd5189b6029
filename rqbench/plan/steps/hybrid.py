"""RocketQAv2's hybrid lists (`rqbench.stages.hybrid`): the denoised groups made by the `denoise` source,
each query's list mixed with undenoised negatives drawn from `mine_from`'s top `hybrid_depth`.

    [variants.train]
    mine_from = "md0"               # the retriever whose run gives both pools
    scan_depth = 20                 # denoised: its top 20 scanned, kept if the teacher's P < 0.1 ...
    negatives_per_positive = 4      # ... 4 per positive (rqbench.stages.denoise)
    denoise_with = "teacher"
    hybrid_undenoised = 4           # per list: 4 drawn from the undenoised pool ...
    hybrid_denoised = 3             # ... and 3 of the denoised ones
    hybrid_depth = 50               # the undenoised pool: mine_from's top 50 (required)
    hard_negatives = 7              # the trainer draws the whole list: undenoised + denoised
"""

from __future__ import annotations

from typing import Any

from rqbench.errors import RqbenchError
from rqbench.plan.steps.base import Follows, Planning, StepInput, TrainingStep
from rqbench.plan.values import Step, seed_of, stage_params, whole
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.hybrid import HybridParams
from rqbench.stages.mine import MineParams

HYBRID_KEYS = ("hybrid_undenoised", "hybrid_denoised", "hybrid_depth")


def check(table: dict[str, Any], where: str) -> None:
    if any(key in table for key in HYBRID_KEYS) and table.get("denoise_with") is None:
        raise RqbenchError("train.hybrid_undenoised / hybrid_denoised / hybrid_depth mix denoised negatives in: "
                           "set train.denoise_with (the teacher that filters them)", where)


def plan(p: Planning, s: StepInput) -> tuple[Node, list[Step]]:
    """Lists mixing `hybrid_undenoised` negatives from `mine_from`'s top `hybrid_depth` with `hybrid_denoised`
    of the denoised groups' negatives."""
    table, where = s.table, s.where
    rand = whole(table, "hybrid_undenoised", int, 0, where, minimum=0)
    clean = whole(table, "hybrid_denoised", int, 0, where, minimum=0)
    if rand + clean < 1:
        raise RqbenchError("train.hybrid_undenoised + train.hybrid_denoised must be at least 1", where)
    per_positive = whole(table, "negatives_per_positive", int, 4, where, minimum=1)
    if clean > per_positive:
        raise RqbenchError(f"train.hybrid_denoised ({clean}) exceeds train.negatives_per_positive "
                           f"({per_positive}), the denoised negatives kept per positive", where)
    hard = whole(table, "hard_negatives", int, 0, where, minimum=0)
    if hard != rand + clean:
        raise RqbenchError(f"train.hard_negatives ({hard}) must be hybrid_undenoised + hybrid_denoised "
                           f"({rand + clean}): each step trains on whole lists", where)
    if "hybrid_depth" not in table:
        raise RqbenchError("train.hybrid_depth: how deep in mine_from's run the undenoised negatives are drawn "
                           "(RocketQAv2 samples them from the retriever's top ranks; the filter's scan_depth is "
                           "a natural choice)", where)
    depth = whole(table, "hybrid_depth", int, 50, where, minimum=1)
    assert s.groups is not None and s.groups.kind.name == "denoise"  # `check`: the denoise source made them
    source = p.suite.reference(table["mine_from"], s.variant)
    run, steps = p.run_of(source, s.dataset, s.split, depth, False, "mine_from:")
    pool = p.add(Node(STAGE_KINDS["mine"], stage_params(MineParams, where, split=s.split, depth=depth, **s.fps),
                      {"run": Input(run)}, s.dataset, label=s.variant.name))
    node = p.add(Node(STAGE_KINDS["hybrid"], stage_params(
        HybridParams, where, split=s.split, undenoised=rand, denoised=clean, seed=seed_of(s.variant, p.suite)),
        {"undenoised": Input(pool), "denoised": Input(s.groups)}, s.dataset, label=s.variant.name))
    return node, [*steps, ("mine", pool), ("hybrid", node)]


STEP = TrainingStep(kind="hybrid", position="transform", keys=(*HYBRID_KEYS, "mine_from", "negatives_per_positive"),
                    follows=(Follows("mine_from", "run", "undenoised"),),
                    applies=lambda table: any(key in table for key in HYBRID_KEYS), plan=plan, check=check,
                    doc="RocketQAv2's hybrid lists: denoised negatives mixed with undenoised ones from a run's top")
