"""Run fusion as a system: a suite variant whose run combines other variants' runs (`[variants.fuse]`).

The method and its settings are this backend's parameters; which runs are fused is the variant's
`fuse = { runs = [...], depth = ... }` table (references to other variants, like a re-ranker's `run_of`).
The planner turns such a variant into a `fuse` stage over the members' runs on the evaluated split; the
`calibrated` method also fits, on the members' runs of `fit_split` and its qrels (held-apart labelled
queries), a logistic regression whose fused score is P(relevant) (`rqbench.calibration`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from rqbench.errors import RqbenchError
from rqbench.fusion import DEFAULT_K, METHODS, NORMALISATIONS, check_choice, fuse_runs
from rqbench.types import Run

FUSION_METHODS = (*METHODS, "calibrated")


@dataclass(frozen=True)
class FusionParams:
    method: str = "rrf"
    k: float = DEFAULT_K  # rrf only
    weights: tuple[float, ...] = ()  # interpolate only: one per member run, in `fuse.runs` order
    normalisation: str = "minmax"  # per query, before a score-based method (the calibrated fit's default: zscore)
    fit_split: str = ""  # calibrated only: the labelled split the logistic regression is fitted on
    rel: int = 1  # calibrated only: the grade from which a pair counts as relevant when fitting
    INDEX_FIELDS: ClassVar[tuple[str, ...]] = ()
    NOT_HASHED: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        check_choice("fusion method", self.method, FUSION_METHODS)
        check_choice("normalisation", self.normalisation, NORMALISATIONS)
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        if not math.isfinite(self.k) or self.k <= 0:
            raise RqbenchError(f"fusion k must be a finite number > 0, got {self.k!r}")
        if self.weights and self.method != "interpolate":
            raise RqbenchError(f"fusion weights are for method 'interpolate', not '{self.method}'")
        if self.method == "interpolate" and not self.weights:
            raise RqbenchError("fusion method 'interpolate' needs weights (one per run in fuse.runs)")
        if self.method == "calibrated" and not self.fit_split:
            raise RqbenchError("fusion method 'calibrated' needs fit_split: the labelled split it is fitted on")
        if self.fit_split and self.method != "calibrated":
            raise RqbenchError(f"fit_split is for method 'calibrated', not '{self.method}'")


class FusionBackend:
    name = "fusion"
    Params = FusionParams

    def __init__(self, params: FusionParams):
        self.params = params

    def describe(self) -> dict[str, Any]:
        return {"fusion": self.params.method}

    def fuse(self, runs: list[Run], depth: int) -> Run:
        """The members' runs (in `fuse.runs` order) fused by a rank or score method, cut to `depth`
        (`rqbench.fusion.fuse_runs` checks the weights and refuses 'calibrated', which is fitted first)."""
        p = self.params
        return fuse_runs(runs, p.method, k=p.k, weights=p.weights or None, normalisation=p.normalisation,
                         depth=depth)
