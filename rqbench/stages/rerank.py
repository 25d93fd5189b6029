"""rerank: a run's top-`depth` re-ordered by a `score` artifact, the rest of the run kept below.

Each query's first `depth` documents are sorted by their cross-encoder logit (ties by document id); the
documents below `depth` follow in the run's order with scores under the lowest re-ranked one, so a recall
measure deeper than `depth` sees the same documents as the run it started from (RocketQA's DE + CE row).
"""

from __future__ import annotations

from dataclasses import dataclass

from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class RerankParams:
    split: str
    depth: int = 50

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"rerank depth must be >= 1, got {self.depth}")


def produce(ctx: BuildContext) -> None:
    from rqbench.stages.score import SCORES_FILE, read_scores
    from rqbench.types import read_trec_run, write_trec_run
    from rqbench_backends.cross_encoder import rerank_ranking

    p: RerankParams = ctx.params
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    scores = read_scores(ctx.input_path("scores") / SCORES_FILE)
    out = {qid: rerank_ranking(ranking, scores.get(qid, {}), min(p.depth, len(scores.get(qid, {}))))
           for qid, ranking in run.items()}
    write_trec_run(out, ctx.out / "run.trec", tag=f"rqbench-{ctx.node.hash[:8]}")


KIND = StageKind(
    name="rerank", version=1, inputs={"run": "run", "scores": "scores"}, output="run", Params=RerankParams,
    doc="a run's top-depth re-ordered by cross-encoder scores, the rest kept below", produce=produce,
)
