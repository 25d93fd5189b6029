"""Run fusion: several runs of the same queries combined into one, as pure functions over `Run`.

Methods (`fuse_runs`):

- `rrf`: reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009; ranx's `rrf`): a document's score
  is the sum over the runs that retrieved it of 1 / (k + rank), rank 1-based, k = 60 by default. Only ranks
  count, so the normalisation is not used.
- `combsum`: the sum of the document's normalised scores (Fox and Shaw, 1994).
- `combmnz`: `combsum` times the number of runs that retrieved the document.
- `interpolate`: a weighted sum of normalised scores, one weight per run (`weights`, required).
- `max`: the largest normalised score the document got (CombMAX).

A document missing from a run contributes nothing to its score (0 for `combsum`, `combmnz` and `interpolate`;
`max` takes only the runs that retrieved it). Under `zscore` that 0 is the run's mean for the query, so a missing
document stands above the run's below-average ones: use `minmax` (the default) or `rank` when that matters.

Ranks are positions in `sort_ranking` order (score descending, ties by docid descending, trec_eval's order), after
each run is cut to `depth`; the fused ranking is sorted the same way and cut to `depth`, so equal fused scores are
ordered by docid descending on every machine, whatever order the runs come in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.types import Run, ScoredDoc, sort_ranking

METHODS = ("rrf", "combsum", "combmnz", "interpolate", "max")
NORMALISATIONS = ("none", "minmax", "zscore", "rank")
DEFAULT_K = 60


def check_choice(what: str, value: str, choices: Sequence[str]) -> str:
    """`value` when it is one of `choices`, else a one-line RqbenchError with a suggestion."""
    if value not in choices:
        raise RqbenchError(f"unknown {what} '{value}'{did_you_mean(value, choices)}")
    return value


def normalise_scores(ranking: Sequence[ScoredDoc], how: str) -> dict[str, float]:
    """docid -> the document's score normalised within this one ranking (one query of one run).

    - `none`: the score as it is.
    - `minmax`: (s - min) / (max - min), the top document 1 and the last 0; when every score is the same (one
      document included) all are 0: a list that cannot tell its documents apart adds no score evidence.
    - `zscore`: (s - mean) / std with the population std; all 0 when the std is 0.
    - `rank`: 1 / rank, rank 1-based in `sort_ranking` order (1, 1/2, 1/3, ...); the scores' scale is ignored.
    """
    check_choice("normalisation", how, NORMALISATIONS)
    ordered = sort_ranking(ranking)
    if how == "rank":
        return {sd.docid: 1.0 / rank for rank, sd in enumerate(ordered, start=1)}
    scores = [sd.score for sd in ordered]
    if not all(math.isfinite(s) for s in scores):
        bad = next(s for s in scores if not math.isfinite(s))
        raise RqbenchError(f"a score is {bad}: score fusion needs finite scores (rrf or --norm rank use ranks only)")
    if how == "none" or not scores:
        return {sd.docid: sd.score for sd in ordered}
    if how == "minmax":
        low, high = min(scores), max(scores)
        span = high - low
        return {sd.docid: (sd.score - low) / span if span > 0 else 0.0 for sd in ordered}
    mean = math.fsum(scores) / len(scores)
    std = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / len(scores))
    return {sd.docid: (sd.score - mean) / std if std > 0 else 0.0 for sd in ordered}


def cut_runs(runs: Sequence[Run], depth: int | None) -> list[Run]:
    """Each run's rankings in `sort_ranking` order, cut to `depth` documents when given."""
    check_depth(depth)
    return [{qid: sort_ranking(docs, depth) for qid, docs in run.items()} for run in runs]


def check_depth(depth: int | None) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise RqbenchError(f"depth must be a whole number of at least 1, not {depth!r}")


def query_union(runs: Sequence[Run]) -> list[str]:
    """Every query any run answers, sorted."""
    return sorted(set().union(*(run.keys() for run in runs)))


def _check_weights(weights: Sequence[float] | None, method: str, n_runs: int) -> list[float] | None:
    if weights is None:
        if method == "interpolate":
            raise RqbenchError(f"interpolate needs weights, one per run ({n_runs})")
        return None
    if method != "interpolate":
        raise RqbenchError(f"weights apply to interpolate only, not to {method}")
    values = list(weights)
    if len(values) != n_runs:
        raise RqbenchError(f"{len(values)} weight(s) for {n_runs} runs: give one weight per run")
    for w in values:
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise RqbenchError(f"weight {w!r} is not a finite number")
    if all(w == 0 for w in values):
        raise RqbenchError("the weights are all 0: every fused score would be 0")
    return [float(w) for w in values]


def _check_k(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k) or k <= 0:
        raise RqbenchError(f"k must be a finite number above 0, not {k!r}")
    return float(k)


def fuse_runs(runs: Sequence[Run], method: str, *, k: float = DEFAULT_K, weights: Sequence[float] | None = None,
              normalisation: str = "minmax", depth: int | None = None) -> Run:
    """One run from several (see the module's docstring for the methods and the missing-document rule).

    Each run is cut to `depth` first when given, and so is the fused ranking. Queries are the union of the runs'
    queries. `k` is RRF's constant; `weights` (interpolate only) one finite number per run, in run order.
    """
    if method == "calibrated":
        raise RqbenchError("calibrated fusion is fitted first: rqbench.calibration.fit_calibrated(runs, qrels)"
                           ".apply(runs)")
    method = check_choice("fusion method", method, METHODS)
    check_choice("normalisation", normalisation, NORMALISATIONS)
    if not runs:
        raise RqbenchError("no runs to fuse")
    k = _check_k(k)
    checked = _check_weights(weights, method, len(runs))
    members = cut_runs(runs, depth)
    fused: Run = {}
    for qid in query_union(members):
        rankings = [run.get(qid, []) for run in members]
        if method == "rrf":
            per_run = [{sd.docid: 1.0 / (k + rank) for rank, sd in enumerate(r, start=1)} for r in rankings]
        else:
            per_run = [normalise_scores(r, normalisation) for r in rankings]
        fused[qid] = sort_ranking(_combine(per_run, method, checked), depth)
    return fused


def _combine(per_run: list[dict[str, float]], method: str, weights: list[float] | None) -> list[ScoredDoc]:
    """The fused scores of one query from each run's docid -> contribution (RRF term or normalised score)."""
    order: dict[str, None] = {}  # every document, first seen first (sort_ranking decides the final order)
    for contributions in per_run:
        order.update(dict.fromkeys(contributions))
    out = []
    for docid in order:
        got = [(i, c[docid]) for i, c in enumerate(per_run) if docid in c]
        if method == "max":
            score = max(value for _, value in got)
        elif method == "interpolate":
            assert weights is not None
            score = math.fsum(weights[i] * value for i, value in got)
        else:  # rrf, combsum, combmnz
            score = math.fsum(value for _, value in got)
            if method == "combmnz":
                score *= len(got)
        out.append(ScoredDoc(docid, score))
    return out
