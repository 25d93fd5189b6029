"""The words a report uses for its statistics: the legend, the key under a results table, the terminal
footer and the p-value column headings, all following the report options (test, correction, pairs).
With the default options every text is what reports have always said. Pure functions of a `Report`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rqbench.report.format import DOWN, UP, compared_measures, pct
from rqbench.report.significance import DEFAULT_OPTIONS

if TYPE_CHECKING:
    from rqbench.report.model import Report

_TEST_NAMES = {"randomization": "paired randomization test", "t": "paired t-test"}
_ADJUSTED = {"holm": "Holm-adjusted", "bonferroni": "Bonferroni-adjusted", "none": "unadjusted"}
_SHORT = {"holm": "Holm", "bonferroni": "Bonferroni", "none": ""}


def test_name(report: Report) -> str:
    """'paired randomization test' or 'paired t-test': the test whose p-value decides the marks."""
    return _TEST_NAMES[report.test]


def adjusted(report: Report) -> str:
    """'Holm-adjusted', 'Bonferroni-adjusted' or 'unadjusted'."""
    return _ADJUSTED[report.correction]


def p_headers(report: Report) -> tuple[str, str]:
    """Column headings of the two p-values: ('p (rand., Holm)', 'p (t, Holm)') by default."""
    short = _SHORT[report.correction]
    return (f"p (rand., {short})", f"p (t, {short})") if short else ("p (rand.)", "p (t)")


def options_line(report: Report) -> str | None:
    """'Report options: ...' naming all three options when any differs from the default, else None."""
    if report.options == DEFAULT_OPTIONS:
        return None
    chosen = ", ".join(f"{k} = {v}" for k, v in report.options.items())
    defaults = ", ".join(f"{k} = {v}" for k, v in DEFAULT_OPTIONS.items())
    return f"Report options: {chosen} (defaults: {defaults})."


def _n_pairs(report: Report) -> int:
    return max((len(v) for s in report.sections for v in s.pairwise.values()), default=0)


def _family_text(report: Report, n: int, what: str) -> str:
    """How the deciding p-value was corrected: 'Holm-adjusted across the 3 variant(s) compared on the
    same measure' (the default wording) or 'not adjusted for the number of comparisons'."""
    if report.correction == "none":
        return "not adjusted for the number of comparisons"
    family = "measure and evaluation set" if report.sets else "measure"
    return f"{adjusted(report)} across the {n} {what} compared on the same {family}"


def legend_lines(report: Report) -> list[str]:
    """The marks and the tests, in plain words (measure definitions are listed separately)."""
    lines = [line] if (line := options_line(report)) else []
    lines += _baseline_lines(report)
    if report.pairs == "all":
        n = _n_pairs(report)
        lines.append(
            f"Pairwise comparisons: every pair of variants 'A vs B' (A before B in the results table). "
            f"Δ: mean over queries of (A - B) with its {pct(report)}% bootstrap interval; W/T/L: queries where "
            f"A scores higher / the same / lower than B; {UP} / {DOWN}: A significantly better / worse than "
            f"B at alpha = {report.alpha:g}, by the {test_name(report)} with its p-value "
            f"{_family_text(report, n, 'pair(s) of variants')}." if n else
            "Pairwise comparisons: fewer than two variants have per-query values, so there are none.")
    if line := seeds_line(report):
        lines.append(line)
    if line := contrasts_line(report):
        lines.append(line)
    return lines


def seeds_line(report: Report) -> str | None:
    """What '±' means, for a report with multi-seed arms; None without."""
    arms = {arm: len(info["seeds"]) for s in report.sections for arm, info in s.seeds.items()}
    if not arms:
        return None
    lo, hi = min(arms.values()), max(arms.values())
    n = str(lo) if lo == hi else f"{lo} to {hi}"
    return (f"± is the standard deviation over {n} seeds; significance uses per-query scores averaged over "
            f"seeds. A seeded arm's value is the mean of its seeds' values (arms: {', '.join(arms)}).")


def contrasts_line(report: Report) -> str | None:
    """How the declared contrasts are tested and judged; None without contrasts."""
    if not report.contrasts:
        return None
    n = sum(1 for c in report.contrasts if c.ran)
    family = (f"{adjusted(report)} across all {n} contrast test(s) together" if report.correction != "none"
              else "not adjusted for the number of tests")
    return (f"Contrasts: the suite's declared claims, each tested as A - B paired by query (on per-query scores "
            f"averaged over seeds for a seeded arm) by the {test_name(report)}, p {family}; the "
            f"{pct(report)}% bootstrap interval of A - B is not adjusted. Verdict: holds (significant at "
            f"alpha = {report.alpha:g} in the claimed direction), contradicted (significant the other way), "
            "not significant (not shown at this scale), not run (a side has no record or per-query values)."
            + (" A claim of equality (A = B) holds when the whole interval of A - B lies within its margin (a "
               "non-significant difference alone is no evidence of equality), is contradicted by a significant "
               "difference whose interval leaves the margin, and is inconclusive otherwise."
               if any(c.expect == "a=b" for c in report.contrasts) else ""))


def _baseline_lines(report: Report) -> list[str]:
    pct_s = pct(report)
    if report.baseline is None:
        return ["No baseline: values only, no significance tests." if report.pairs != "all" else
                "No baseline: no comparisons with a baseline, only the pairwise comparisons."]
    n_cmp = max((len(v) for s in report.sections for v in s.comparisons.values()), default=0)
    if n_cmp == 0:
        return [f"Baseline '{report.baseline}', but no other variant has per-query values to test against it."]
    n, what = (n_cmp, "variant(s)") if report.pairs != "all" else (_n_pairs(report), "pair(s) of variants")
    adj = adjusted(report)
    return [
        f"{UP} / {DOWN}: significantly better / worse than the baseline '{report.baseline}' at "
        f"alpha = {report.alpha:g}, by the {test_name(report)} with its p-value "
        f"{_family_text(report, n, what)}. No mark: not significant.",
        "Δ: mean over queries of (variant - baseline), paired by query id (a query missing on one side "
        f"counts as 0). [CI]: {pct_s}% paired bootstrap percentile interval of that mean "
        f"({report.meta['stats']['n_resamples']} resamples of the queries); it is not adjusted for the "
        f"number of comparisons, so it can exclude 0 where the {adj} test finds no significance.",
        "p (rand.): two-sided paired randomization (sign-flip) test, "
        f"{report.meta['stats']['n_resamples']} random sign vectors, {adj}. "
        f"p (t): two-sided paired t-test, {adj + ' the same way' if report.correction != 'none' else 'unadjusted'}.",
        "W/T/L: queries where the variant scores higher / the same / lower than the baseline.",
        f"Random seed of the tests: {report.meta['stats']['seed']}.",
    ]


def results_key(report: Report, where_deltas: str) -> str:
    """One line for just below a results table (of one evaluation set), so the marks need no trip to the
    legend; `where_deltas` says where the renderer put each difference and its CI."""
    if report.baseline is None or not compared_measures(report):
        if report.pairwise:
            return "No comparisons with a baseline here; every pair of variants is compared below."
        return "No significance tests (see the legend)."
    return (f"{UP} / {DOWN}: significantly better / worse than the baseline '{report.baseline}' "
            f"({test_name(report)}, {adjusted(report)}, alpha = {report.alpha:g}). "
            f"Δ [CI]: mean difference from the baseline and its {pct(report)}% bootstrap interval, "
            f"{where_deltas}. Details in the legend.")


def terminal_method(report: Report) -> str:
    """How marks are decided, in a few words: 'paired randomization test, Holm across variants'."""
    if report.correction == "none":
        return f"{test_name(report)}, no correction"
    across = "variants" if report.pairs != "all" else "all pairs of variants"
    return f"{test_name(report)}, {_SHORT[report.correction]} across {across}"
