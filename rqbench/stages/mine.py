"""mine: training groups whose negatives are a candidate pool from any run (RocketQA, arXiv 2010.08191 4.2).

Per judged query of the split: its positives, and as negatives the run's top-`depth` documents without
the judged positives, kept in rank order. The trainer draws its hard negatives per step from this pool
(`sample = "random"`: afresh every epoch with the seed; `"top"`: the first ones in rank order), so a
deeper pool means more distinct negatives over the epochs, not more per step.
"""

from __future__ import annotations

from dataclasses import dataclass

from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class MineParams:
    split: str = "train"
    depth: int = 100  # candidates come from this many top hits of the run
    corpus: str = ""
    queries: str = ""
    qrels: str = ""

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"mine depth must be >= 1, got {self.depth}")


def produce(ctx: BuildContext) -> None:
    from rqbench.training.groups import write_groups
    from rqbench.training.mining import mine_candidates
    from rqbench.types import read_trec_run

    p: MineParams = ctx.params
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    write_groups(mine_candidates(run, ctx.dataset, p.split, depth=p.depth), ctx.out / "groups.jsonl")


KIND = StageKind(
    name="mine", version=2, inputs={"run": "run"}, output="groups", Params=MineParams,
    doc="training groups with a hard-negative pool: a run's top-depth minus judged positives, in rank order",
    produce=produce,
)
