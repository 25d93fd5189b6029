"""The words and table rows of a report's Contrasts section, shared by the terminal, Markdown and HTML
renderers: one row per test and one sentence per contrast that says, in plain words, whether the claim
holds at this scale. Pure functions of a `Report`; nothing here computes a statistic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.report.format import DASH, fmt_ci, fmt_diff, fmt_p, fmt_short, fmt_value, pct
from rqbench.report.legend import adjusted

if TYPE_CHECKING:
    from rqbench.report.contrasts import ContrastResult
    from rqbench.report.model import Report

_EXPECT = {"a>b": "A > B", "a<b": "A < B", "a=b": "A = B"}
_CLASS = {"holds": "up", "contradicted": "down"}


def contrast_headers(report: Report) -> tuple[str, str]:
    """Headings of the raw and the corrected p-value columns: ('p (rand.)', 'p (rand., Holm)') by default."""
    test = "t" if report.test == "t" else "rand."
    short = {"holm": "Holm", "bonferroni": "Bonferroni", "none": "unadjusted"}[report.correction]
    return f"p ({test})", f"p ({test}, {short})"


def _section(report: Report, result: ContrastResult) -> Report | None:
    return next((s for s in report.sections if s.label == result.label), None)


def _side(report: Report, result: ContrastResult, name: str) -> list[str]:
    """[name, value, '± sd']: a side with its value on the test's measure (the report's, else the mean of
    its per-query values) and, for a seeded arm, its sd over the seeds; [name] alone when not run."""
    s = _section(report, result)
    c = result.comparison
    if c is None or result.measure is None:
        return [name]
    value = (s.metrics.get(name, {}) if s is not None else {}).get(result.measure)
    if value is None:
        value = c.mean_a if name == result.a else c.mean_b
    sd = ((s.seeds.get(name) or {}).get("sd", {}) if s is not None else {}).get(result.measure)
    return [name, fmt_value(value)] + ([f"± {fmt_value(sd)}"] if sd is not None else [])


def _joined(parts: list[str]) -> str:
    """'name (0.6021 ± 0.0034)' from `_side`'s parts."""
    return parts[0] + (f" ({' '.join(parts[1:])})" if len(parts) > 1 else "")


def contrast_rows(report: Report) -> list[dict[str, Any]]:
    """One row per contrast test: name, set, measure, expected direction, both sides with their values
    ("a", "b"; as lines in "a_parts", "b_parts"), A - B with its CI (and in short), the raw and corrected
    p-value of the deciding test, the verdict, whether it ran and a CSS class."""
    rows = []
    for r in report.contrasts:
        c = r.comparison
        raw = None if c is None else c.t_p if report.test == "t" else c.rand_p
        rows.append({
            "name": r.name, "label": r.label or DASH, "measure": r.measure or DASH, "expect": _EXPECT[r.expect],
            "a": _joined(a := _side(report, r, r.a)), "b": _joined(b := _side(report, r, r.b)), "a_parts": a,
            "b_parts": b, "diff": fmt_diff(c.diff) if c is not None else DASH,
            "ci": fmt_ci(c) if c is not None else DASH,
            "ci_short": f"[{fmt_short(c.ci_low)},{fmt_short(c.ci_high)}]" if c is not None else DASH,
            "p": fmt_p(raw), "p_corrected": fmt_p(r.p_corrected), "verdict": r.verdict,
            "cls": _CLASS.get(r.verdict, ""), "ran": r.ran,
        })
    return rows


def _part(report: Report, r: ContrastResult, several: bool) -> str:
    """One test's words: 'holds on scifact (test) RR@10 (A - B = +0.0123, 95% CI [...], Holm-adjusted p = 0.0010)'."""
    where = " ".join(x for x in ((r.label if several or r.verdict == "not run" else ""), r.measure or "") if x)
    where = f" on {where}" if where else ""
    if r.comparison is None:
        return f"not run{where} ({r.reason})"
    c = r.comparison
    numbers = (f"A - B = {fmt_diff(c.diff)}, {pct(report)}% CI {fmt_ci(c)}, {adjusted(report)} p = "
               f"{fmt_p(r.p_corrected)}")
    if r.expect == "a=b":
        band = f"±{r.margin or 0.0:g}"
        if r.verdict == "holds":
            return f"holds{where}: the CI lies within {band} ({numbers})"
        if r.verdict == "contradicted":
            return f"contradicted{where}: a significant difference beyond {band} ({numbers})"
        return f"inconclusive{where}: the CI reaches beyond {band} ({numbers})"
    if r.verdict == "holds":
        return f"holds{where} ({numbers})"
    if r.verdict == "contradicted":
        return f"contradicted{where}: the difference goes the other way ({numbers})"
    return f"not shown at this scale{where} ({numbers})"


def contrast_sentences(report: Report) -> list[str]:
    """One sentence per contrast, in declaration order: '<claim>: holds / not shown at this scale (...) /
    contradicted ...', a part per evaluation set and measure it was tested on."""
    by_name: dict[str, list[ContrastResult]] = {}
    for r in report.contrasts:
        by_name.setdefault(r.name, []).append(r)
    several = len(report.sections) > 1
    out = []
    for name, results in by_name.items():
        first = results[0]
        sign = {"a>b": ">", "a<b": "<", "a=b": "="}[first.expect]
        claim = first.claim or f"{name}: {first.a} {sign} {first.b}"
        out.append(f"{claim}: " + "; ".join(_part(report, r, several) for r in results) + ".")
    return out
