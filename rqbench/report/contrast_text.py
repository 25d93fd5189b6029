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


def per_seed_diffs(report: Report, result: ContrastResult) -> list[tuple[str, float]]:
    """(seed, A - B) for each seed of a test between seeded arms: each seed's value of the measure on both sides
    (the seeds both arms ran), or against the other side's value when only one side is seeded; [] when neither
    is, or the test was not run. The seed-averaged test does not see this spread: the reader should."""
    s = _section(report, result)
    if s is None or result.comparison is None or result.measure is None:
        return []
    m = result.measure
    info_a, info_b = (s.seeds.get(x) or {} for x in (result.a, result.b))
    if not info_a and not info_b:
        return []

    def value(info: dict[str, Any], name: str, seed: Any) -> float | None:
        if info:
            return (info.get("per_seed", {}).get(seed) or {}).get(m)
        return s.metrics.get(name, {}).get(m)

    seeds = [x for x in (info_a or info_b)["seeds"] if not (info_a and info_b) or x in info_b["seeds"]]
    out = []
    for seed in seeds:
        va, vb = value(info_a, result.a, seed), value(info_b, result.b, seed)
        if va is not None and vb is not None:
            out.append((str(seed), va - vb))
    return out


def fmt_per_seed(diffs: list[tuple[str, float]]) -> str:
    """'13: -0.0012, 14: -0.0043' (empty without seeds)."""
    return ", ".join(f"{seed}: {fmt_diff(d)}" for seed, d in diffs)


def _joined(parts: list[str]) -> str:
    """'name (0.6021 ± 0.0034)' from `_side`'s parts."""
    return parts[0] + (f" ({' '.join(parts[1:])})" if len(parts) > 1 else "")


def contrast_rows(report: Report) -> list[dict[str, Any]]:
    """One row per contrast test: name, set, measure, expected direction, both sides with their values
    ("a", "b"; as lines in "a_parts", "b_parts"), A - B with its CI (and in short), the raw and corrected
    p-value of the deciding test, the verdict, whether it ran, a CSS class, and A - B per seed ("by_seed",
    empty unless a side is a seeded arm)."""
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
            "cls": _CLASS.get(r.verdict, ""), "ran": r.ran, "by_seed": fmt_per_seed(per_seed_diffs(report, r)),
        })
    return rows


def _part(report: Report, r: ContrastResult, several: bool) -> str:
    """One test's words: 'holds on scifact (test) RR@10 (A - B = +0.0123, 95% CI [...], Holm-adjusted p = 0.0010)'."""
    where = " ".join(x for x in ((r.label if several or r.verdict == "not run" else ""), r.measure or "") if x)
    where = f" on {where}" if where else ""
    if r.comparison is None:
        return f"not run{where} ({r.reason})"
    c = r.comparison
    by_seed = fmt_per_seed(per_seed_diffs(report, r))
    numbers = (f"A - B = {fmt_diff(c.diff)}, {pct(report)}% CI {fmt_ci(c)}, {adjusted(report)} p = "
               f"{fmt_p(r.p_corrected)}" + (f"; by seed {by_seed}" if by_seed else ""))
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
