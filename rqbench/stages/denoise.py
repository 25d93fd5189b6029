"""denoise: training groups whose hard negatives a cross-encoder has filtered (RocketQA step 3).

Inputs: `run` (the retriever whose top-`scan_depth` is scanned and whose ranks to `fill_depth` fill a
shortfall) and `scores` (the cross-encoder's logits of that top-`scan_depth`; absent for the undenoised
arm, `denoise = false`, which scans the same ranks without the filter). Output: ``groups.jsonl`` and
``audit.json`` (see `rqbench.training.denoise`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rqbench.io import atomic_write_json
from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class DenoiseParams:
    split: str = "train"
    scan_depth: int = 50
    threshold: float = 0.1
    per_positive: int = 4
    fill_depth: int = 1000
    denoise: bool = True
    seed: int = 0
    corpus: str = ""
    queries: str = ""
    qrels: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.scan_depth <= self.fill_depth:
            raise ValueError(f"need 1 <= scan depth ({self.scan_depth}) <= fill depth ({self.fill_depth})")
        if self.per_positive < 1:
            raise ValueError(f"negatives per positive must be >= 1, got {self.per_positive}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"the denoising threshold is a probability in (0, 1), got {self.threshold}")


def produce(ctx: BuildContext) -> None:
    from rqbench.stages.score import SCORES_FILE, read_scores
    from rqbench.training.denoise import denoise_groups
    from rqbench.training.groups import write_groups
    from rqbench.types import read_trec_run

    p: DenoiseParams = ctx.params
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    logits = read_scores(ctx.input_path("scores") / SCORES_FILE) if ctx.has_input("scores") else {}
    groups, audit = denoise_groups(run, logits, ctx.dataset, p.split, scan_depth=p.scan_depth, threshold=p.threshold,
                                   per_positive=p.per_positive, fill_depth=p.fill_depth, denoise=p.denoise,
                                   seed=p.seed)
    write_groups(groups, ctx.out / "groups.jsonl")
    atomic_write_json(ctx.out / "audit.json", audit.to_json())


KIND = StageKind(
    name="denoise", version=1, inputs={"run": "run", "scores": "scores?"}, output="groups", Params=DenoiseParams,
    doc="training groups with hard negatives scanned from a run, filtered by cross-encoder scores; with an audit",
    produce=produce,
)
