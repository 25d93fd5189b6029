"""Paired significance statistics for comparing two retrieval systems query by query.

This module owns the numbers behind "is variant A better than baseline B": the paired t-test, the
paired randomization (sign-flip) test, the paired bootstrap confidence interval of the mean difference,
win/tie/loss counts and the family-wise correction (Holm-Bonferroni by default, or Bonferroni, or none)
across the comparisons of one family: every variant against a baseline, or any list of pairs.

Conventions:

* Pairing is on the UNION of query ids; a query missing from one system scores 0.0 there (a system
  that returned nothing for a judged query gets 0). Ids are sorted, so results are deterministic.
* Differences are a - b (variant minus baseline); all tests are two-sided.
* The randomization test flips the sign of each per-query difference at random;
  p = (count(|mean_perm| >= |observed| - 1e-12) + 1) / (n_resamples + 1), never 0.
* The confidence interval is the percentile bootstrap (resampling queries with replacement) of the
  mean difference, at level 1 - alpha.
* One ``numpy.random.default_rng(seed)`` serves a comparison: bootstrap draws first, sign vectors next.
* Values within 1e-12 of each other count as equal (ties, constant differences).

Only numpy and scipy are imported, and of scipy only `scipy.special` (the t distribution's tail,
`stdtr`, the function `scipy.stats.t.sf` calls), when a t-test is first computed: importing scipy.stats
costs several times more start-up than the statistics of a `rqbench compare`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rqbench.errors import RqbenchError, did_you_mean

__all__ = ["CORRECTIONS", "PairedComparison", "adjust", "bonferroni", "compare_pairs", "compare_to_baseline",
           "holm", "paired_compare"]

CORRECTIONS = ("holm", "bonferroni", "none")  # family-wise corrections `adjust` knows

EPS = 1e-12
# Elements of one (resamples x queries) block; ~9-16 bytes each, so a block stays well under 50 MB.
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class PairedComparison:
    """Result of comparing variant A against baseline B on one measure, paired by query."""

    measure: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    t_stat: float
    t_p: float
    rand_p: float
    wins: int
    ties: int
    losses: int
    p_holm: float | None = None  # Holm-adjusted rand_p; set only when the family's correction is Holm
    t_p_holm: float | None = None  # Holm-adjusted t_p; likewise
    correction: str | None = None  # the family's correction (one of CORRECTIONS); None: not part of one
    p_corrected: float | None = None  # rand_p after `correction` (equal to p_holm for Holm)
    t_p_corrected: float | None = None  # t_p after `correction`

    def p_value(self, test: str = "randomization") -> float:
        """The p-value that decides significance for `test` ("randomization" or "t"): corrected if this
        comparison belongs to a corrected family (or has a Holm value), else the raw one."""
        if test == "t":
            return next(p for p in (self.t_p_corrected, self.t_p_holm, self.t_p) if p is not None)
        return next(p for p in (self.p_corrected, self.p_holm, self.rand_p) if p is not None)

    def significant(self, alpha: float = 0.05, test: str = "randomization") -> bool:
        """True when `p_value(test)` is below alpha."""
        return self.p_value(test) < alpha

    def flipped(self) -> PairedComparison:
        """The same comparison seen from the other side (b against a): differences, means, CI bounds,
        t statistic and wins / losses swap sign or place; p-values are unchanged (two-sided tests)."""
        return dataclasses.replace(
            self, mean_a=self.mean_b, mean_b=self.mean_a, diff=-self.diff + 0.0, ci_low=-self.ci_high + 0.0,
            ci_high=-self.ci_low + 0.0, t_stat=-self.t_stat + 0.0, wins=self.losses, losses=self.wins)

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python values (t_stat may be +-inf for constant non-zero differences)."""
        return dataclasses.asdict(self)


def _chunk_rows(n: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(n, 1))


def _paired_t(d: np.ndarray) -> tuple[float, float]:
    """Two-sided paired t-test on the differences d, without NaNs."""
    n = d.size
    mean = float(np.mean(d))
    if float(np.ptp(d)) <= EPS:  # all differences identical: the sample sd is 0
        if abs(mean) <= EPS:
            return 0.0, 1.0
        return math.copysign(math.inf, mean), 0.0
    if n < 2:  # unreachable (one value has ptp 0) but keeps the formula below well defined
        return 0.0, 1.0
    from scipy.special import stdtr  # scipy.stats.t.sf(x, df) is stdtr(df, -x), to the last bit

    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    t = mean / se
    p = float(2.0 * stdtr(n - 1, -abs(t)))
    return float(t), min(1.0, p)


def _bootstrap_ci(
    d: np.ndarray, rng: np.random.Generator, n_resamples: int, alpha: float
) -> tuple[float, float]:
    n = d.size
    means = np.empty(n_resamples, dtype=np.float64)
    rows = _chunk_rows(n)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)
    low, high = np.percentile(means, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)


def _randomization_p(d: np.ndarray, rng: np.random.Generator, n_resamples: int) -> float:
    n = d.size
    total = float(np.sum(d))
    observed = abs(total / n)
    count = 0
    rows = _chunk_rows(n)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        positive = rng.integers(0, 2, size=(stop - start, n), dtype=np.uint8)
        # sum(s_i d_i) with s_i = +-1 equals 2 * sum over positive signs - sum(d)
        perm_means = (2.0 * (positive @ d) - total) / n
        count += int(np.count_nonzero(np.abs(perm_means) >= observed - EPS))
    return (count + 1) / (n_resamples + 1)


def _check_options(n_resamples: int, alpha: float) -> None:
    if n_resamples < 1:
        raise RqbenchError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < alpha < 1.0:
        raise RqbenchError(f"alpha must be between 0 and 1, got {alpha}")


def paired_compare(
    a: Mapping[str, float],
    b: Mapping[str, float],
    measure: str = "",
    *,
    n_resamples: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
) -> PairedComparison:
    """Compare variant ``a`` against baseline ``b`` (each query id -> value) on the union of ids."""
    _check_options(n_resamples, alpha)
    qids = sorted(set(a) | set(b))
    if not qids:
        raise RqbenchError("no queries to compare")
    xa = np.array([float(a.get(q, 0.0)) for q in qids], dtype=np.float64)
    xb = np.array([float(b.get(q, 0.0)) for q in qids], dtype=np.float64)
    for name, x in (("variant", xa), ("baseline", xb)):
        if not np.all(np.isfinite(x)):
            bad = qids[int(np.flatnonzero(~np.isfinite(x))[0])]
            where = f" of {measure}" if measure else ""
            raise RqbenchError(f"non-finite {name} value{where} for query '{bad}'")
    d = xa - xb
    n = int(d.size)
    diff = float(np.mean(d))

    rng = np.random.default_rng(seed)
    ci_low, ci_high = _bootstrap_ci(d, rng, n_resamples, alpha)
    rand_p = _randomization_p(d, rng, n_resamples)
    if float(np.ptp(d)) <= EPS:  # every resample has the same mean; avoid rounding noise in the CI
        ci_low = ci_high = diff
    t_stat, t_p = _paired_t(d)

    return PairedComparison(
        measure=measure,
        n=n,
        mean_a=float(np.mean(xa)),
        mean_b=float(np.mean(xb)),
        diff=diff,
        ci_low=ci_low,
        ci_high=ci_high,
        t_stat=t_stat,
        t_p=t_p,
        rand_p=float(rand_p),
        wins=int(np.count_nonzero(d > EPS)),
        ties=int(np.count_nonzero(np.abs(d) <= EPS)),
        losses=int(np.count_nonzero(d < -EPS)),
    )


def _checked(pvalues: Sequence[float], who: str) -> np.ndarray:
    """The p-values as a flat float array; ValueError unless each lies in [0, 1]."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"{who}() expects a flat sequence of p-values")
    if np.any(np.isnan(p)) or np.any(p < 0.0) or np.any(p > 1.0):
        raise ValueError(f"p-values must lie in [0, 1], got {list(pvalues)}")
    return p


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in the input order (monotone, capped at 1)."""
    p = _checked(pvalues, "holm")
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted_sorted = np.maximum.accumulate(scaled)
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = adjusted_sorted
    return [float(x) for x in adjusted]


def bonferroni(pvalues: Sequence[float]) -> list[float]:
    """Bonferroni-adjusted p-values: min(1, m * p), in the input order."""
    p = _checked(pvalues, "bonferroni")
    return [float(x) for x in np.minimum(1.0, p.size * p)]


def adjust(pvalues: Sequence[float], correction: str) -> list[float]:
    """`pvalues` after the family-wise `correction` ("holm", "bonferroni" or "none": unchanged)."""
    if correction == "holm":
        return holm(pvalues)
    if correction == "bonferroni":
        return bonferroni(pvalues)
    if correction == "none":
        return [float(x) for x in _checked(pvalues, "adjust")]
    raise RqbenchError(f"unknown correction '{correction}'" + did_you_mean(correction, CORRECTIONS))


def compare_pairs(
    per_query: Mapping[str, Mapping[str, float]],
    pairs: Sequence[tuple[str, str]],
    measure: str,
    *,
    correction: str = "holm",
    n_resamples: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[tuple[str, str], PairedComparison]:
    """Compare a against b for every (a, b) in `pairs` (differences a - b) and correct the p-values of
    both tests over that family; the result keeps the order of `pairs`.

    ``per_query`` maps variant name -> {qid: value}. ``p_corrected`` / ``t_p_corrected`` hold the corrected
    ``rand_p`` / ``t_p``; with Holm, ``p_holm`` / ``t_p_holm`` hold the same values.
    """
    if correction not in CORRECTIONS:
        raise RqbenchError(f"unknown correction '{correction}'" + did_you_mean(correction, CORRECTIONS))
    for name in {n for pair in pairs for n in pair}:
        if name not in per_query:
            raise RqbenchError(f"unknown variant '{name}'" + did_you_mean(name, per_query))
    raw = {
        (a, b): paired_compare(per_query[a], per_query[b], measure, n_resamples=n_resamples, seed=seed,
                               alpha=alpha)
        for a, b in pairs
    }
    if not raw:
        return {}
    p = adjust([c.rand_p for c in raw.values()], correction)
    t_p = adjust([c.t_p for c in raw.values()], correction)
    is_holm = correction == "holm"
    return {
        key: dataclasses.replace(c, correction=correction, p_corrected=pc, t_p_corrected=tc,
                                 p_holm=pc if is_holm else None, t_p_holm=tc if is_holm else None)
        for (key, c), pc, tc in zip(raw.items(), p, t_p, strict=True)
    }


def compare_to_baseline(
    per_query: Mapping[str, Mapping[str, float]],
    baseline: str,
    measure: str,
    *,
    n_resamples: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    correction: str = "holm",
) -> dict[str, PairedComparison]:
    """Compare every variant except ``baseline`` against it; correct across those variants (Holm by
    default, see `compare_pairs`).

    ``per_query`` maps variant name -> {qid: value}. The result keeps the input order of the variants.
    """
    if baseline not in per_query:
        raise RqbenchError(f"unknown baseline '{baseline}'" + did_you_mean(baseline, per_query))
    pairs = [(name, baseline) for name in per_query if name != baseline]
    out = compare_pairs(per_query, pairs, measure, correction=correction, n_resamples=n_resamples, seed=seed,
                        alpha=alpha)
    return {a: c for (a, _), c in out.items()}
