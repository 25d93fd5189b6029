"""A report's answer, said first: the short summary that report.md, report.html and the terminal view
open with, before any table. Each declared contrast gives a row (verdict, difference, CI); a suite without
contrasts gets one sentence per evaluation set on its first measure (the best variant, its difference
from the baseline with the CI, and how many variants are significantly better or worse than the
baseline). Pure functions of a `Report`; the tables and sentences further down say the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.report.contrast_text import contrast_rows
from rqbench.report.format import DOWN, UP, fmt_ci, fmt_diff, fmt_metric, pct

if TYPE_CHECKING:
    from rqbench.report.model import Report

SUMMARY_TITLE = "Summary"


def headline_rows(report: Report) -> list[dict[str, Any]]:
    """One row per test of the declared contrasts (`contrast_rows`' keys: name, label, measure, verdict,
    diff, ci, ci_short, cls); empty for a suite without contrasts."""
    return contrast_rows(report)


def contrasts_intro(report: Report) -> str:
    """The sentence above the summary of the contrasts."""
    return (f"Each declared contrast: its verdict, the difference A - B and its {pct(report)}% CI "
            "(the Contrasts section gives the p-values and what each claim says).")


def headline_sentences(report: Report) -> list[str]:
    """Without declared contrasts: one sentence per evaluation set on its first measure; none with them."""
    if report.contrasts:
        return []
    several = len(report.sections) > 1
    return [s for s in (_set_sentence(section, several) for section in report.sections) if s]


def _set_sentence(s: Report, several: bool) -> str:
    """'nDCG@10: best is tas-b (0.7210), +0.2152 [+0.16, +0.27] (95% CI) against the baseline bm25 (0.5058),
    significant; 2 of 3 variants significantly better than the baseline, none worse.'"""
    if not s.measures or not s.variants:
        return ""
    m = s.measures[0]
    where = f"{s.label}, {m}" if several else m
    scored = [v for v in s.variants if s.metrics.get(v, {}).get(m) is not None]
    if not scored:
        return f"{where}: no variant has a value."
    best = max(scored, key=lambda v: s.metrics[v][m])
    head = f"{where}: best is {best} ({fmt_metric(s, best, m)})"
    if s.baseline is None:
        return head + "; no baseline to compare with."
    if best == s.baseline:
        head = f"{where}: best is the baseline {best} ({fmt_metric(s, best, m)})"
    else:
        c = s.comparison(m, best)
        if c is None:
            return head + f"; no per-query values to compare it with the baseline {s.baseline}."
        verdict = "significant" if s.mark(m, best) else f"not significant at alpha={s.alpha:g}"
        head += (f", {fmt_diff(c.diff)} ({pct(s)}% CI {fmt_ci(c)}) against the baseline {s.baseline} "
                 f"({fmt_metric(s, s.baseline, m)}), {verdict}")
    others = [v for v in s.variants if v != s.baseline and s.comparison(m, v) is not None]
    if not others:
        return head + "."
    up = sum(s.mark(m, v) == UP for v in others)
    down = sum(s.mark(m, v) == DOWN for v in others)
    return (head + f"; {_count(up, len(others))} significantly better than the baseline, "
            f"{_count(down, len(others), short=True)} worse.")


def _count(k: int, n: int, *, short: bool = False) -> str:
    """'2 of 3 variants', 'none', '1 of 1 variant' ('1' alone when `short`)."""
    if k == 0:
        return "none"
    return str(k) if short else f"{k} of {n} variant{'s' if n != 1 else ''}"
