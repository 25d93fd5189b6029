"""groups: training groups from a split's qrels alone: judged positives, plus seeded random negatives."""

from __future__ import annotations

from dataclasses import dataclass

from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class GroupsParams:
    split: str = "train"
    random_negatives: int = 0  # corpus documents drawn per query (seeded, never a judged positive)
    seed: int = 0
    corpus: str = ""  # content fingerprints of what the groups are made of
    queries: str = ""
    qrels: str = ""

    def __post_init__(self) -> None:
        if self.random_negatives < 0:
            raise ValueError(f"random_negatives must be >= 0, got {self.random_negatives}")


def produce(ctx: BuildContext) -> None:
    from rqbench.training.groups import groups_from_qrels, write_groups

    p: GroupsParams = ctx.params
    groups = groups_from_qrels(ctx.dataset, p.split, negatives="random" if p.random_negatives else "none",
                               n_negatives=p.random_negatives, seed=p.seed)
    write_groups(groups, ctx.out / "groups.jsonl")


KIND = StageKind(
    name="groups", version=1, inputs={}, output="groups", Params=GroupsParams,
    doc="training groups from qrels: judged positives (+ seeded random negatives)", produce=produce,
)
