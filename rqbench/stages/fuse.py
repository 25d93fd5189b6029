"""fuse: several variants' runs on one split combined into one run (RRF, CombSUM, CombMNZ, interpolation,
CombMAX, or a calibrated logistic fusion whose score is P(relevant)).

Inputs `run0`, `run1`, ... are the member runs in the variant's `fuse.runs` order (2 to 8 members; one for
the calibrated method, which is then Platt scaling of that run). The
calibrated method also takes `fit0`, `fit1`, ...: the same members' runs on `fit_split`, whose qrels it is
fitted on; the fitted model, its calibration on the fitted pairs and, when the evaluated split is judged, on
the held-out pairs of that split (ECE, Brier score, reliability table) are written beside the run as
`calibration.json`, so a report can show how far 0.1 / 0.9 mean probabilities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rqbench.stages.base import BuildContext, StageKind

MAX_MEMBERS = 8
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class FuseParams:
    split: str
    method: str
    members: int
    depth: int = 1000
    k: float = 60.0
    weights: tuple[float, ...] = ()
    normalisation: str = "minmax"
    fit_split: str = ""
    fit_qrels: str = ""  # content fingerprint of fit_split's qrels (calibrated only)
    rel: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.members <= MAX_MEMBERS or (self.members == 1 and self.method != "calibrated"):
            raise ValueError(f"fuse needs 2 to {MAX_MEMBERS} runs (1 for 'calibrated'), got {self.members}")
        if self.depth < 1:
            raise ValueError(f"fuse depth must be >= 1, got {self.depth}")


def produce(ctx: BuildContext) -> None:
    from rqbench.io import atomic_write_text
    from rqbench.types import read_trec_run, write_trec_run

    p: FuseParams = ctx.params
    names = list(ctx.node.runtime.get("names", [f"run{i}" for i in range(p.members)]))  # for people: not hashed
    runs = [read_trec_run(ctx.input_path(f"run{i}") / "run.trec") for i in range(p.members)]
    if p.method == "calibrated":
        from rqbench.calibration import calibration_of, fit_calibrated

        fit_runs = [read_trec_run(ctx.input_path(f"fit{i}") / "run.trec") for i in range(p.members)]
        model = fit_calibrated(fit_runs, ctx.dataset.split_qrels(p.fit_split), normalisation=p.normalisation,
                               depth=p.depth, rel=p.rel)
        fused = model.apply(runs)
        fit_check = calibration_of(model.apply(fit_runs), ctx.dataset.split_qrels(p.fit_split), rel=p.rel)
        held_qrels = ctx.dataset.qrels.get(p.split) or {}
        held_out = calibration_of(fused, held_qrels, rel=p.rel) if any(q in fused for q in held_qrels) else None
        atomic_write_text(ctx.out / CALIBRATION_FILE, json.dumps(
            {"model": json.loads(model.to_json()), "fit_split": p.fit_split, "members": names,
             "fitted": fit_check, "split": p.split, "held_out": held_out}, indent=2) + "\n")
        ctx.console.print(f"calibrated fusion of {', '.join(names)}: fitted on {model.fitted_queries} queries of "
                          f"'{p.fit_split}' ({model.fitted_pairs} pairs, {model.fitted_positives} relevant), "
                          f"ECE {model.fitted_ece:.4f} on them")
    else:
        from rqbench.fusion import fuse_runs

        fused = fuse_runs(runs, p.method, k=p.k, weights=p.weights or None, normalisation=p.normalisation,
                          depth=p.depth)
    write_trec_run(fused, ctx.out / "run.trec", tag=f"rqbench-{ctx.node.hash[:8]}")


def _inputs() -> dict[str, str]:
    roles = {f"run{i}": "run" if i == 0 else "run?" for i in range(MAX_MEMBERS)}
    roles.update({f"fit{i}": "run?" for i in range(MAX_MEMBERS)})
    return roles


KIND = StageKind(
    name="fuse", version=1, inputs=_inputs(), output="run", Params=FuseParams,
    doc="runs of several variants fused into one (rrf, combsum, combmnz, interpolate, max, calibrated)",
    produce=produce,
)
