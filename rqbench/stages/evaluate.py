"""evaluate: any run artifact (retrieved, re-ranked or imported) against one split's qrels."""

from __future__ import annotations

from dataclasses import dataclass

from rqbench.io import atomic_write_json
from rqbench.measures import curves, evaluate, parse_measures
from rqbench.stages.base import BuildContext, StageKind
from rqbench.types import read_trec_run


@dataclass(frozen=True)
class EvaluateParams:
    split: str
    measures: list[str]
    qrels: str = ""  # content fingerprint of the split's qrels


def produce(ctx: BuildContext) -> None:
    p: EvaluateParams = ctx.params
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    qrels = ctx.dataset.split_qrels(p.split)
    result = evaluate(run, qrels, parse_measures(p.measures))
    depth = max((len(v) for v in run.values()), default=1)
    atomic_write_json(ctx.out / "metrics.json", {
        "aggregate": result.aggregate, "per_query": result.per_query, "definitions": result.definitions,
        "n_queries": result.n_queries, "curves": curves(run, qrels, depth),
    })


KIND = StageKind(
    name="evaluate", version=2, inputs={"run": "run"}, output="metrics", Params=EvaluateParams,
    doc="measures (ir-measures) of any run against a split's qrels, per query and aggregated", produce=produce,
)
