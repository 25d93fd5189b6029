"""Tests for rqbench.stats, checked against scipy and against independent brute-force computations."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from scipy import stats as sps

from rqbench.errors import RqbenchError
from rqbench.stats import (
    PairedComparison,
    adjust,
    bonferroni,
    compare_pairs,
    compare_to_baseline,
    holm,
    paired_compare,
)


def _systems(n: int, seed: int, shift: float = 0.03) -> tuple[dict[str, float], dict[str, float]]:
    """Two correlated systems on n queries, values in [0, 1] like a retrieval metric."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.0, 1.0, n)
    variant = np.clip(base + shift + rng.normal(0.0, 0.15, n), 0.0, 1.0)
    qids = [f"q{i}" for i in range(n)]
    return dict(zip(qids, variant.tolist(), strict=True)), dict(zip(qids, base.tolist(), strict=True))


def _diffs(a: dict[str, float], b: dict[str, float]) -> np.ndarray:
    qids = sorted(set(a) | set(b))
    return np.array([a.get(q, 0.0) - b.get(q, 0.0) for q in qids])


# --- paired t-test ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "seed", "shift"), [(5, 1, 0.0), (30, 2, 0.03), (200, 3, 0.01), (50, 4, -0.1)])
def test_t_test_matches_scipy_ttest_rel(n: int, seed: int, shift: float) -> None:
    a, b = _systems(n, seed, shift)
    res = paired_compare(a, b, "m", n_resamples=200, seed=seed)
    qids = sorted(a)
    ref = sps.ttest_rel([a[q] for q in qids], [b[q] for q in qids])
    assert res.t_stat == pytest.approx(float(ref.statistic), rel=1e-9, abs=1e-12)
    assert res.t_p == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)


def test_t_test_constant_differences_is_nan_free() -> None:
    b = {f"q{i}": 0.1 * i for i in range(10)}
    up = {q: v + 0.25 for q, v in b.items()}
    down = {q: v - 0.25 for q, v in b.items()}
    r_up = paired_compare(up, b, n_resamples=100)
    r_down = paired_compare(down, b, n_resamples=100)
    assert r_up.t_stat == math.inf and r_up.t_p == 0.0
    assert r_down.t_stat == -math.inf and r_down.t_p == 0.0
    assert r_up.wins == 10 and r_down.losses == 10
    assert r_up.ci_low == pytest.approx(0.25) and r_up.ci_high == pytest.approx(0.25)
    single = paired_compare({"q": 0.7}, {"q": 0.2}, n_resamples=100)
    assert single.n == 1 and not math.isnan(single.t_stat) and not math.isnan(single.t_p)


def test_identical_systems() -> None:
    a, _ = _systems(40, 5)
    res = paired_compare(a, dict(a), "ndcg", n_resamples=500)
    assert res.diff == 0.0
    assert res.rand_p == 1.0
    assert res.t_stat == 0.0 and res.t_p == 1.0
    assert res.ties == res.n == 40 and res.wins == 0 and res.losses == 0
    assert res.ci_low == 0.0 and res.ci_high == 0.0
    assert res.mean_a == res.mean_b
    assert not res.significant()


# --- randomization test ----------------------------------------------------------------------------


def _exact_sign_flip_p(d: np.ndarray) -> float:
    n = d.size
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    perm = signs @ d / n
    return float(np.mean(np.abs(perm) >= abs(d.mean()) - 1e-12))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_randomization_small_n_matches_exact_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b = rng.uniform(0, 1, 8)
    a = b + rng.normal(0.08, 0.2, 8)
    qa = {f"q{i}": float(x) for i, x in enumerate(a)}
    qb = {f"q{i}": float(x) for i, x in enumerate(b)}
    exact = _exact_sign_flip_p(_diffs(qa, qb))
    res = paired_compare(qa, qb, n_resamples=20000, seed=seed)
    # Monte-Carlo standard error <= 0.0036; allow ~5 of them plus the +1 correction
    assert res.rand_p == pytest.approx(exact, abs=0.02)


def test_randomization_exact_enumeration_is_not_trivial() -> None:
    # guards the test above: with a clear shift the exact p is small and ours must be too
    d = np.array([0.3, 0.25, 0.4, 0.1, 0.35, 0.2, 0.3, -0.05])
    exact = _exact_sign_flip_p(d)
    assert exact < 0.05
    a = {f"q{i}": float(x) for i, x in enumerate(d)}
    res = paired_compare(a, {}, n_resamples=20000, seed=3)
    assert res.rand_p == pytest.approx(exact, abs=0.01)


@pytest.mark.parametrize(("n", "seed", "shift"), [(25, 21, 0.05), (60, 22, 0.02), (120, 23, 0.0)])
def test_randomization_matches_scipy_permutation_test(n: int, seed: int, shift: float) -> None:
    a, b = _systems(n, seed, shift)
    qids = sorted(a)
    x = np.array([a[q] for q in qids])
    y = np.array([b[q] for q in qids])

    def mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x - y, axis=axis)

    ref = sps.permutation_test(
        (x, y),
        mean_diff,
        permutation_type="samples",
        alternative="two-sided",
        vectorized=True,
        n_resamples=10000,
        rng=np.random.default_rng(seed + 1000),
    )
    res = paired_compare(a, b, n_resamples=10000, seed=seed)
    # two independent Monte-Carlo estimates, each with standard error <= 0.005
    assert res.rand_p == pytest.approx(float(ref.pvalue), abs=0.03)


# --- bootstrap CI ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "seed", "alpha"), [(30, 31, 0.05), (150, 32, 0.05), (80, 33, 0.1)])
def test_bootstrap_ci_matches_scipy_percentile(n: int, seed: int, alpha: float) -> None:
    a, b = _systems(n, seed)
    d = _diffs(a, b)
    ref = sps.bootstrap(
        (d,),
        np.mean,
        method="percentile",
        confidence_level=1.0 - alpha,
        n_resamples=10000,
        rng=np.random.default_rng(seed + 1000),
    )
    res = paired_compare(a, b, n_resamples=10000, seed=seed, alpha=alpha)
    se = float(np.std(d, ddof=1) / math.sqrt(n))
    # Monte-Carlo error of a 2.5% bootstrap quantile with 10k resamples is ~0.03 se per estimate
    assert res.ci_low == pytest.approx(float(ref.confidence_interval.low), abs=0.15 * se)
    assert res.ci_high == pytest.approx(float(ref.confidence_interval.high), abs=0.15 * se)
    assert res.ci_low <= res.diff <= res.ci_high
    assert res.diff == pytest.approx(float(d.mean()), abs=1e-15)


def test_ci_narrows_with_larger_alpha() -> None:
    a, b = _systems(100, 41)
    wide = paired_compare(a, b, n_resamples=4000, seed=1, alpha=0.01)
    narrow = paired_compare(a, b, n_resamples=4000, seed=1, alpha=0.2)
    assert wide.ci_low < narrow.ci_low <= narrow.diff <= narrow.ci_high < wide.ci_high


# --- pairing, bookkeeping, determinism -------------------------------------------------------------


def test_union_of_queries_missing_counts_as_zero() -> None:
    a = {"q1": 0.5, "q2": 1.0, "q3": 0.25}
    b = {"q2": 0.5, "q3": 0.25, "q4": 0.75}
    res = paired_compare(a, b, "RR@10", n_resamples=200)
    # union q1..q4: a = [.5, 1, .25, 0], b = [0, .5, .25, .75]; d = [.5, .5, 0, -.75]
    assert res.n == 4
    assert res.mean_a == pytest.approx(1.75 / 4)
    assert res.mean_b == pytest.approx(1.5 / 4)
    assert res.diff == pytest.approx(0.25 / 4)
    assert (res.wins, res.ties, res.losses) == (2, 1, 1)
    ref = sps.ttest_rel([0.5, 1.0, 0.25, 0.0], [0.0, 0.5, 0.25, 0.75])
    assert res.t_stat == pytest.approx(float(ref.statistic))
    assert res.measure == "RR@10"


def test_tie_tolerance() -> None:
    res = paired_compare({"q1": 0.1 + 0.2, "q2": 0.5}, {"q1": 0.3, "q2": 0.4}, n_resamples=50)
    assert (res.wins, res.ties, res.losses) == (1, 1, 0)


def test_order_of_mapping_does_not_matter_and_seed_is_deterministic() -> None:
    a, b = _systems(70, 51)
    r1 = paired_compare(a, b, "m", n_resamples=3000, seed=7)
    r2 = paired_compare(dict(reversed(list(a.items()))), dict(reversed(list(b.items()))), "m",
                        n_resamples=3000, seed=7)
    assert r1 == r2
    r3 = paired_compare(a, b, "m", n_resamples=3000, seed=8)
    assert (r3.ci_low, r3.ci_high, r3.rand_p) != (r1.ci_low, r1.ci_high, r1.rand_p)
    assert r3.t_p == r1.t_p and r3.diff == r1.diff


def test_empty_input_raises() -> None:
    with pytest.raises(RqbenchError, match="no queries to compare"):
        paired_compare({}, {})


def test_bad_options_and_values_raise() -> None:
    with pytest.raises(RqbenchError):
        paired_compare({"q": 1.0}, {"q": 0.0}, n_resamples=0)
    with pytest.raises(RqbenchError):
        paired_compare({"q": 1.0}, {"q": 0.0}, alpha=1.5)
    with pytest.raises(RqbenchError, match="q2"):
        paired_compare({"q1": 1.0, "q2": float("nan")}, {"q1": 0.0})


def test_significant_and_to_dict() -> None:
    a, b = _systems(200, 61, shift=0.15)
    res = paired_compare(a, b, "m", n_resamples=2000)
    assert res.rand_p == pytest.approx(1 / 2001)
    assert res.significant() and res.significant(0.01)
    adjusted = PairedComparison(**{**res.to_dict(), "p_holm": 0.2})
    assert not adjusted.significant() and adjusted.significant(0.3)
    d = res.to_dict()
    assert d["measure"] == "m" and d["n"] == 200 and d["p_holm"] is None
    assert set(d) == {
        "measure", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "t_stat", "t_p", "rand_p",
        "wins", "ties", "losses", "p_holm", "t_p_holm", "correction", "p_corrected", "t_p_corrected",
    }
    assert d["correction"] is None and d["p_corrected"] is None  # a lone comparison belongs to no family
    assert all(type(d[k]) is float for k in ("mean_a", "diff", "ci_low", "t_stat", "t_p", "rand_p"))
    assert all(type(d[k]) is int for k in ("n", "wins", "ties", "losses"))


def test_large_input_memory_is_bounded() -> None:
    a, b = _systems(5000, 71)
    tracemalloc.start()
    try:
        paired_compare(a, b, n_resamples=10000, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20


def test_import_does_not_load_heavy_modules() -> None:
    code = "import sys, rqbench.stats; print(sorted(m for m in ('torch', 'faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- Holm ------------------------------------------------------------------------------------------


def _textbook_holm(p: list[float]) -> list[float]:
    """Step-down by the book: sort, multiply the i-th smallest (0-based) by m - i, running max, cap at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_holm_hand_checked() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> running max .06 ; back to input order
    expected = [0.03, 0.06, 0.06, 0.02]
    assert holm(p) == pytest.approx(expected)
    assert holm(p) == pytest.approx(_textbook_holm(p))
    assert holm([0.5, 0.9, 0.2]) == pytest.approx([1.0, 1.0, 0.6])
    assert holm([]) == []
    assert holm([0.03]) == [0.03]


@pytest.mark.parametrize("seed", range(5))
def test_holm_properties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = (rng.uniform(0, 0.2, 12) ** 2).tolist()
    adj = holm(p)
    assert adj == pytest.approx(_textbook_holm(p))
    assert all(x >= y for x, y in zip(adj, p, strict=True))
    assert all(x <= 1.0 for x in adj)
    # monotone in the order of the raw p-values, and order preserving
    order = np.argsort(p, kind="stable")
    assert all(adj[i] <= adj[j] for i, j in itertools.pairwise(order))
    perm = rng.permutation(len(p))
    assert [holm(p)[i] for i in perm] == pytest.approx(holm([p[i] for i in perm]))



def test_holm_rejects_invalid() -> None:
    with pytest.raises(ValueError):
        holm([0.1, 1.5])
    with pytest.raises(ValueError):
        holm([float("nan")])


# --- compare_to_baseline ---------------------------------------------------------------------------


def _family() -> dict[str, dict[str, float]]:
    base_a, base = _systems(60, 81, shift=0.0)
    rng = np.random.default_rng(82)
    big = {q: min(1.0, v + 0.2 + float(rng.normal(0, 0.05))) for q, v in base.items()}
    return {"strong": big, "bm25": base, "same": dict(base), "noisy": base_a}


def test_compare_to_baseline_applies_holm() -> None:
    per_query = _family()
    out = compare_to_baseline(per_query, "bm25", "nDCG@10", n_resamples=2000, seed=5)
    assert list(out) == ["strong", "same", "noisy"]
    for name, comp in out.items():
        plain = paired_compare(per_query[name], per_query["bm25"], "nDCG@10", n_resamples=2000, seed=5)
        assert (comp.rand_p, comp.t_p, comp.diff, comp.ci_low) == (
            plain.rand_p, plain.t_p, plain.diff, plain.ci_low)
    raw = [c.rand_p for c in out.values()]
    raw_t = [c.t_p for c in out.values()]
    assert [c.p_holm for c in out.values()] == pytest.approx(_textbook_holm(raw))
    assert [c.t_p_holm for c in out.values()] == pytest.approx(_textbook_holm(raw_t))
    assert out["strong"].p_holm == pytest.approx(3 * out["strong"].rand_p)
    assert out["same"].p_holm == 1.0 and out["same"].ties == 60
    assert out["strong"].significant()


def test_compare_to_baseline_unknown_baseline() -> None:
    with pytest.raises(RqbenchError, match=r"did you mean 'bm25'"):
        compare_to_baseline(_family(), "bm52", "nDCG@10", n_resamples=10)


def test_compare_to_baseline_only_baseline() -> None:
    assert compare_to_baseline({"bm25": {"q": 1.0}}, "bm25", "m", n_resamples=10) == {}


# --- other corrections, pairs ----------------------------------------------------------------------


def test_bonferroni_and_adjust() -> None:
    p = [0.01, 0.04, 0.3, 0.005]
    assert bonferroni(p) == pytest.approx([0.04, 0.16, 1.0, 0.02])
    assert adjust(p, "bonferroni") == bonferroni(p) and adjust(p, "holm") == holm(p) and adjust(p, "none") == p
    assert bonferroni([]) == []
    with pytest.raises(RqbenchError, match="did you mean 'bonferroni'"):
        adjust(p, "bonferoni")
    with pytest.raises(ValueError):
        bonferroni([1.2])


@pytest.mark.parametrize("correction", ["holm", "bonferroni", "none"])
def test_compare_to_baseline_corrections(correction: str) -> None:
    per_query = _family()
    out = compare_to_baseline(per_query, "bm25", "m", n_resamples=500, seed=3, correction=correction)
    raw = [c.rand_p for c in out.values()]
    assert [c.p_corrected for c in out.values()] == pytest.approx(adjust(raw, correction))
    assert [c.t_p_corrected for c in out.values()] == pytest.approx(adjust([c.t_p for c in out.values()], correction))
    assert all(c.correction == correction for c in out.values())
    assert all((c.p_holm is not None) == (correction == "holm") for c in out.values())
    c = out["noisy"]
    assert c.p_value("t") == c.t_p_corrected and c.p_value() == c.p_corrected
    assert c.significant(0.05, "t") == (c.t_p_corrected < 0.05)


def test_compare_pairs_and_flipped() -> None:
    per_query = _family()
    pairs = [("strong", "bm25"), ("bm25", "noisy"), ("strong", "noisy")]
    out = compare_pairs(per_query, pairs, "m", n_resamples=500, seed=4, correction="bonferroni")
    assert list(out) == pairs
    for (a, b), c in out.items():
        plain = paired_compare(per_query[a], per_query[b], "m", n_resamples=500, seed=4)
        assert (c.diff, c.rand_p, c.t_p) == (plain.diff, plain.rand_p, plain.t_p)
        assert c.p_corrected == pytest.approx(min(1.0, 3 * plain.rand_p))
    c = out[("bm25", "noisy")]
    back = paired_compare(per_query["noisy"], per_query["bm25"], "m", n_resamples=500, seed=4)
    f = c.flipped()
    assert f.diff == pytest.approx(back.diff) and (f.wins, f.ties, f.losses) == (back.wins, back.ties, back.losses)
    assert (f.ci_low, f.ci_high) == pytest.approx((back.ci_low, back.ci_high))
    assert (f.mean_a, f.mean_b, f.t_stat) == pytest.approx((back.mean_a, back.mean_b, back.t_stat))
    assert (f.rand_p, f.t_p, f.p_corrected) == (c.rand_p, c.t_p, c.p_corrected) and f.flipped() == c
    with pytest.raises(RqbenchError, match="did you mean 'strong'"):
        compare_pairs(per_query, [("strog", "bm25")], "m", n_resamples=10)
    assert compare_pairs(per_query, [], "m", n_resamples=10) == {}
