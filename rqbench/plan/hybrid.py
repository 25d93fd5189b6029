"""The planner's RocketQAv2 step: hybrid lists (`rqbench.stages.hybrid`), as a mixin of the planner
(`rqbench.plan._Planner`), which supplies `suite`, `add` and `run_of`.

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

from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError
from rqbench.plan.values import Step, seed_of, stage_params, whole
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.hybrid import HybridParams
from rqbench.stages.mine import MineParams

if TYPE_CHECKING:
    from rqbench.data.dataset import Dataset
    from rqbench.suite import Suite, Variant

HYBRID_KEYS = ("hybrid_undenoised", "hybrid_denoised", "hybrid_depth")


class HybridSteps:
    """Planner methods for RocketQAv2's hybrid lists; see the module docstring."""

    suite: Suite

    if TYPE_CHECKING:
        def add(self, node: Node) -> Node: ...
        def run_of(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
                   prefix: str) -> tuple[Node, list[Step]]: ...

    def _hybrid(self, variant: Variant, table: dict[str, Any], dataset: Dataset, split: str, fps: dict[str, str],
                denoised: Node, where: str) -> tuple[Node, list[Step]]:
        """Lists mixing `hybrid_undenoised` negatives from `mine_from`'s top `hybrid_depth` with
        `hybrid_denoised` of the denoised groups' negatives."""
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
        source = self.suite.reference(table["mine_from"], variant)
        run, steps = self.run_of(source, dataset, split, depth, False, "mine_from:")
        pool = self.add(Node(STAGE_KINDS["mine"], stage_params(MineParams, where, split=split, depth=depth, **fps),
                             {"run": Input(run)}, dataset, label=variant.name))
        node = self.add(Node(STAGE_KINDS["hybrid"], stage_params(
            HybridParams, where, split=split, undenoised=rand, denoised=clean, seed=seed_of(variant, self.suite)),
            {"undenoised": Input(pool), "denoised": Input(denoised)}, dataset, label=variant.name))
        return node, [*steps, ("mine", pool), ("hybrid", node)]
