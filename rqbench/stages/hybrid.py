"""hybrid: RocketQAv2's hybrid lists, undenoised and denoised negatives mixed per query (arXiv 2110.07367).

Inputs: `undenoised` (groups from `mine`: a retriever's top-k pool, judged positives removed) and `denoised`
(groups from `denoise`: negatives a teacher scored below its threshold; only those its audit counts as kept,
not the unfiltered fills). Output: ``groups.jsonl`` (one list per
denoised group: its positives and `undenoised + denoised` distinct negatives) and ``audit.json`` (see
`rqbench.training.hybrid`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rqbench.io import atomic_write_json
from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class HybridParams:
    split: str = "train"
    undenoised: int = 4  # negatives per list drawn from the undenoised pool
    denoised: int = 3  # negatives per list from the denoised ones
    seed: int = 0

    def __post_init__(self) -> None:
        if self.undenoised < 0 or self.denoised < 0 or self.undenoised + self.denoised < 1:
            raise ValueError(f"a hybrid list needs >= 1 negative, got {self.undenoised} + {self.denoised}")


def produce(ctx: BuildContext) -> None:
    from rqbench.training.groups import read_groups, write_groups
    from rqbench.training.hybrid import hybrid_lists

    p: HybridParams = ctx.params
    # the denoise audit says how many of each group's negatives the teacher passed (the rest are fills)
    audit_path = ctx.input_path("denoised") / "audit.json"
    per_query = json.loads(audit_path.read_text(encoding="utf-8")).get("per_query") if audit_path.exists() else None
    kept = {qid: int(c.get("kept", 0)) for qid, c in per_query.items()} if isinstance(per_query, dict) else None
    lists, audit = hybrid_lists(read_groups(ctx.input_path("undenoised") / "groups.jsonl"),
                                read_groups(ctx.input_path("denoised") / "groups.jsonl"),
                                undenoised_per_list=p.undenoised, denoised_per_list=p.denoised, seed=p.seed,
                                kept=kept)
    write_groups(lists, ctx.out / "groups.jsonl")
    atomic_write_json(ctx.out / "audit.json", audit.to_json())


KIND = StageKind(
    name="hybrid", version=1, inputs={"undenoised": "groups", "denoised": "groups"}, output="groups",
    Params=HybridParams, doc="RocketQAv2 hybrid lists: undenoised and denoised negatives mixed per query; audited",
    produce=produce,
)
