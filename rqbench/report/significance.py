"""Which comparisons a report makes and how it judges them: the report options (`test`, `correction`,
`pairs`) and the paired comparisons of one evaluation set, per measure.

With pairs "baseline" every variant is compared with the baseline (the family corrected per measure
is those variants); with "all" every pair of variants (i < j in report order, difference variant i -
variant j), corrected over all those pairs, and the comparisons with the baseline are taken from that
family (turned around where the baseline comes first), so one pair never shows two p-values. numpy
and scipy (`rqbench.stats`) are imported only when there is something to compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError, did_you_mean

if TYPE_CHECKING:
    from rqbench.stats import PairedComparison

TESTS = ("randomization", "t")  # which test's corrected p-value decides a significance mark
PAIRS = ("baseline", "all")  # compare with the baseline only, or every pair of variants
DEFAULT_OPTIONS = {"test": "randomization", "correction": "holm", "pairs": "baseline"}

PerQuery = dict[str, dict[str, dict[str, float]]]  # variant -> measure -> qid -> value
Comparisons = dict[str, dict[str, "PairedComparison"]]  # measure -> variant -> comparison vs baseline
Pairwise = dict[str, dict[tuple[str, str], "PairedComparison"]]  # measure -> (a, b) -> a vs b


def check_options(test: str, correction: str, pairs: str) -> dict[str, str]:
    """The options as a dict; a one-line RqbenchError (with a suggestion) for an unknown value."""
    from rqbench.stats import CORRECTIONS

    for what, value, choices in (("test", test, TESTS), ("correction", correction, CORRECTIONS),
                                 ("pairs", pairs, PAIRS)):
        if value not in choices:
            raise RqbenchError(f"unknown {what} '{value}'" + did_you_mean(str(value), choices))
    return {"test": test, "correction": correction, "pairs": pairs}


def compare_set(
    per_query: PerQuery,
    variants: list[str],
    baseline: str | None,
    measures: list[str],
    settings: dict[str, Any],
    notes: list[str],
) -> tuple[Comparisons, Pairwise]:
    """(comparisons with the baseline, pairwise comparisons) of one evaluation set. `settings` holds
    n_resamples, seed, alpha, correction and pairs; notes about uneven query sets go to `notes`."""
    if settings["pairs"] == "all":
        return _all_pairs(per_query, variants, baseline, measures, settings, notes)
    if baseline is None:
        return {}, {}
    return _against_baseline(per_query, variants, baseline, measures, settings, notes), {}


def _stats_options(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings[k] for k in ("n_resamples", "seed", "alpha", "correction")}


def _against_baseline(per_query: PerQuery, variants: list[str], baseline: str, measures: list[str],
                      settings: dict[str, Any], notes: list[str]) -> Comparisons:
    from rqbench.stats import compare_to_baseline  # numpy + scipy: only when there is something to test

    out: Comparisons = {}
    for m in measures:
        base = per_query[baseline].get(m)
        if base is None:
            continue  # the caller has said why (no sidecar or no values for m)
        family = {v: per_query[v][m] for v in variants if m in per_query[v]}
        for v, values in family.items():
            if v != baseline and set(values) != set(base):
                notes.append(
                    f"{m}: '{v}' has per-query values for {len(values)} queries, the baseline for "
                    f"{len(base)}, {len(set(values) & set(base))} shared; a query missing on one side "
                    "counts as 0 there"
                )
        out[m] = compare_to_baseline(family, baseline, m, **_stats_options(settings))
    return out


def _all_pairs(per_query: PerQuery, variants: list[str], baseline: str | None, measures: list[str],
               settings: dict[str, Any], notes: list[str]) -> tuple[Comparisons, Pairwise]:
    from rqbench.stats import compare_pairs  # numpy + scipy: only when there is something to test

    comparisons: Comparisons = {}
    pairwise: Pairwise = {}
    for m in measures:
        family = {v: per_query[v][m] for v in variants if m in per_query[v]}
        names = list(family)
        _note_uneven(m, family, notes)
        found = compare_pairs(family, [(a, b) for i, a in enumerate(names) for b in names[i + 1:]], m,
                              **_stats_options(settings))
        if found:
            pairwise[m] = found
        if baseline in family:
            comparisons[m] = {v: found[(v, baseline)] if (v, baseline) in found else found[(baseline, v)].flipped()
                              for v in names if v != baseline}
    return comparisons, pairwise


def _note_uneven(measure: str, family: dict[str, dict[str, float]], notes: list[str]) -> None:
    union = set().union(*family.values()) if family else set()
    for v, values in family.items():
        if set(values) != union:
            notes.append(f"{measure}: '{v}' has per-query values for {len(values)} of the {len(union)} queries "
                         "the variants have between them; a query missing on one side counts as 0 there")
