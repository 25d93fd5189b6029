"""A Report as data for other tools: JSON (a dict to `json.dump`), CSV text and LaTeX tables.

JSON shape (`report_to_json`, schema 1), the same whether the report has one evaluation set or several:

    {"schema": 1,
     "suite": str, "measures": [str], "alpha": float,
     "test": "randomization" | "t", "correction": "holm" | "bonferroni" | "none",
     "pairs": "baseline" | "all", "baseline": str | null,
     "sets": [{"dataset": str | null, "split": str | null,
               "n_queries": int | null,            # null when the variants' records disagree
               "variants": [{"name": str, "metrics": {measure: float | null}}],
               "comparisons": [{"measure": str, "a": str, "b": str,
                                "diff": float,              # mean over queries of (a - b)
                                "ci": [float, float],       # bootstrap CI of diff at level 1 - alpha
                                "p": float, "p_corrected": float,      # randomization test
                                "t_p": float, "t_p_corrected": float,  # paired t-test
                                "wins": int, "ties": int, "losses": int,  # queries a beats / ties / loses to b
                                "significant": bool}]}],    # the chosen test's corrected p < alpha
     "notes": [str]}

With pairs "baseline", `comparisons` holds each variant (a) against the baseline (b), per measure in
report order; with "all", every pair of variants (a before b in the variants' order) instead, the
baseline's pairs included. Non-finite numbers become null. `per_query=True` adds one key to each
variant, "per_query": {measure: {qid: value}}, and changes nothing else.

Only where a report has them (so other reports keep the shape above exactly):

* a multi-seed arm's variant entry adds "n_seeds": int, "seeds": [seed, ...],
  "per_seed": {"<seed>": {measure: float}} and "sd": {measure: float} (sample standard deviation over the
  seeds); its "metrics" are the means over the seeds, its comparisons pair seed-averaged per-query values;
* a report with declared contrasts adds "contrasts" at the top: one entry per test,
  {"name", "claim", "a", "b", "expect": "a>b" | "a<b" | "a=b", "margin": float | null (a=b only),
   "evaluation": str, "dataset", "split", "measure",
   "verdict": "holds" | "contradicted" | "not significant" | "inconclusive" (a=b only) | "not run", "reason": str,
   "n_seeds_a": int, "n_seeds_b": int, "mean_a", "mean_b", "diff", "ci": [lo, hi], "p", "p_corrected",
   "t_p", "t_p_corrected", "wins", "ties", "losses"}  (numbers null for a test not run; "p_corrected" is
  the randomization test's, "t_p_corrected" the t-test's, each corrected over all contrast tests);
* a report whose records carry audits of their training data adds "audits" at the top:
  {variant: {role: [{"seed": seed | null, "summary": {...as recorded}, "rates": {...}}]}}, one entry per
  seed (once per variant, whatever the set), "rates" for "denoise" {"drop_rate", "agreement"} and for
  "augment" {"coverage", "negatives_per_labelled_query", "precision"} (null where undefined;
  `rqbench.report.audits`).

CSV (`report_to_csv`): one header (`CSV_COLUMNS`) for every report, numbers at full precision, empty
cells for what a row does not have:

    dataset, split, measure, a, b, value_a, value_b, diff, ci_low, ci_high, p, p_corrected, t_p,
    t_p_corrected, wins, ties, losses, significant, sd, n_seeds

A row with `b` empty holds a value only: variant `a`'s `value_a` on `measure`. A row with `b` holds the
comparison a vs b (diff = mean of a - b, its CI, the two tests' p-values, a's wins / ties / losses
against b and whether the chosen test's corrected p is below alpha) besides both values. First come one
row per set x variant x measure (variants, then measures, in report order); with pairs "baseline" each
such row of a variant compared with the baseline is that comparison (b = the baseline), the baseline's
own rows have b empty. With pairs "all" those rows hold values only (b empty) and one row per set x
measure x pair follows, for every pair of variants (a before b in the variants' order) as in the JSON.
So `value_a` of any row with a given (dataset, split, measure, a) is that variant's value, and the rows
with `b` are exactly the JSON's comparisons. `sd` and `n_seeds` describe `value_a` when `a` is a
multi-seed arm (its value is then the mean over `n_seeds` seeds, `sd` their standard deviation); they
are empty for any other variant.

LaTeX (`report_to_latex`): per set a `table` with a booktabs `tabular` (variants x measures), the best
value of each measure in bold, a dagger / double dagger for significantly better / worse than the
baseline, and a caption naming the test, the correction and alpha; a multi-seed arm's value is its mean
"± sd" over the seeds. With pairs "all" a second `table`
per set lists every compared pair per measure (A vs B, Δ = A - B with its mark, the corrected p-value),
its caption saying "all pairs" and the correction.
"""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING, Any

from rqbench.report.audits import audit_rates
from rqbench.report.format import UP, fmt_ci, fmt_diff, fmt_p, pct
from rqbench.report.legend import adjusted, p_headers, test_name

if TYPE_CHECKING:
    from rqbench.report.contrasts import ContrastResult
    from rqbench.report.model import Report
    from rqbench.stats import PairedComparison

JSON_SCHEMA = 1
CSV_COLUMNS = ["dataset", "split", "measure", "a", "b", "value_a", "value_b", "diff", "ci_low", "ci_high", "p",
               "p_corrected", "t_p", "t_p_corrected", "wins", "ties", "losses", "significant", "sd", "n_seeds"]
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _n_queries(section: Report) -> int | None:
    counts = {n for n in section.meta["n_queries"].values() if n is not None}
    return counts.pop() if len(counts) == 1 else None


def _comparison_json(report: Report, measure: str, a: str, b: str, c: PairedComparison) -> dict[str, Any]:
    return {
        "measure": measure, "a": a, "b": b, "diff": _num(c.diff), "ci": [_num(c.ci_low), _num(c.ci_high)],
        "p": c.rand_p, "p_corrected": c.p_value("randomization"), "t_p": c.t_p, "t_p_corrected": c.p_value("t"),
        "wins": c.wins, "ties": c.ties, "losses": c.losses, "significant": c.significant(report.alpha, report.test),
    }


def _set_comparisons(section: Report) -> list[dict[str, Any]]:
    if section.pairs == "all":
        return [_comparison_json(section, m, a, b, c) for m in section.measures
                for (a, b), c in section.pairwise.get(m, {}).items()]
    return [_comparison_json(section, m, v, section.baseline or "", c) for m in section.measures
            for v, c in section.comparisons.get(m, {}).items()]


def report_to_json(report: Report, *, per_query: bool = False) -> dict[str, Any]:
    """The report as plain JSON-able data, in the shape the module docstring documents."""
    sets = []
    for s in report.sections:
        name, split = s.eval_set or (None, None)
        variants = []
        for v in s.variants:
            entry: dict[str, Any] = {"name": v, "metrics": {m: _num(s.metrics[v].get(m)) for m in s.measures
                                                            if m in s.metrics[v]}}
            if v in s.seeds:
                entry.update(_seeds_json(s, v))
            if per_query:
                entry["per_query"] = {m: dict(values) for m, values in s.per_query.get(v, {}).items()}
            variants.append(entry)
        sets.append({"dataset": name, "split": split, "n_queries": _n_queries(s), "variants": variants,
                     "comparisons": _set_comparisons(s)})
    out = {"schema": JSON_SCHEMA, "suite": report.suite, "measures": list(report.measures), "alpha": report.alpha,
           "test": report.test, "correction": report.correction, "pairs": report.pairs, "baseline": report.baseline,
           "sets": sets, "notes": list(report.notes)}
    if report.findings:
        out["findings"] = report.findings
    if report.contrasts:
        out["contrasts"] = [_contrast_json(report, r) for r in report.contrasts]
    if report.audits:
        out["audits"] = {v: {role: [{"seed": seed, "summary": dict(summary), "rates": audit_rates(role, summary)}
                                    for seed, summary in entries] for role, entries in roles.items()}
                         for v, roles in report.audits.items()}
    return out


def _seeds_json(s: Report, variant: str) -> dict[str, Any]:
    """A multi-seed arm's seeds, per-seed values and standard deviations, on the set's measures."""
    info = s.seeds[variant]
    return {"n_seeds": len(info["seeds"]), "seeds": list(info["seeds"]),
            "per_seed": {str(seed): {m: _num(values[m]) for m in s.measures if m in values}
                         for seed, values in info["per_seed"].items()},
            "sd": {m: _num(info["sd"][m]) for m in s.measures if m in info["sd"]}}


def _contrast_json(report: Report, r: ContrastResult) -> dict[str, Any]:
    section = next((s for s in report.sections if s.label == r.label), None)
    name, split = section.eval_set if section is not None and section.eval_set else (None, None)
    c = r.comparison
    stats: dict[str, Any] = dict.fromkeys(("mean_a", "mean_b", "diff", "p", "p_corrected", "t_p", "t_p_corrected",
                                           "wins", "ties", "losses"))
    stats["ci"] = [None, None]
    if c is not None:
        stats.update(mean_a=_num(c.mean_a), mean_b=_num(c.mean_b), diff=_num(c.diff), ci=[_num(c.ci_low),
                     _num(c.ci_high)], p=c.rand_p, p_corrected=c.p_value("randomization"), t_p=c.t_p,
                     t_p_corrected=c.p_value("t"), wins=c.wins, ties=c.ties, losses=c.losses)
    from rqbench.report.contrast_text import per_seed_diffs

    stats["diff_by_seed"] = {seed: _num(d) for seed, d in per_seed_diffs(report, r)} or None
    return {"name": r.name, "claim": r.claim, "a": r.a, "b": r.b, "expect": r.expect, "margin": r.margin,
            "evaluation": r.evaluation,
            "dataset": name, "split": split, "measure": r.measure, "verdict": r.verdict, "reason": r.reason,
            "n_seeds_a": r.n_seeds_a, "n_seeds_b": r.n_seeds_b, **stats}


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return str(x)


def _csv_row(s: Report, measure: str, a: str, b: str | None, c: PairedComparison | None) -> list[Any]:
    name, split = s.eval_set or (None, None)
    row = [name, split, measure, a, b, _num(s.metrics[a].get(measure)),
           _num(s.metrics[b].get(measure)) if b is not None else None]
    info = s.seeds.get(a)
    seeds = [_num(info["sd"].get(measure)), len(info["seeds"])] if info else [None, None]
    if c is None:
        return row + [None] * (len(CSV_COLUMNS) - len(row) - 2) + seeds
    j = _comparison_json(s, measure, a, b or "", c)
    return [*row, j["diff"], *j["ci"], j["p"], j["p_corrected"], j["t_p"], j["t_p_corrected"], j["wins"], j["ties"],
            j["losses"], j["significant"], *seeds]


def report_to_csv(report: Report) -> str:
    """The header `CSV_COLUMNS`, then the value and comparison rows the module docstring describes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in report.sections:
        vs_baseline = s.pairs != "all"
        for v in s.variants:
            for m in s.measures:
                c = s.comparison(m, v) if vs_baseline else None
                writer.writerow([_cell(x) for x in _csv_row(s, m, v, s.baseline if c is not None else None, c)])
        for m in s.measures if not vs_baseline else []:
            for (a, b), c in s.pairwise.get(m, {}).items():
                writer.writerow([_cell(x) for x in _csv_row(s, m, a, b, c)])
    return out.getvalue()


def latex_escape(text: Any) -> str:
    """Plain text made safe inside LaTeX: _ % & # $ { } ~ ^ and backslash escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def report_to_latex(report: Report) -> str:
    """One `table` (booktabs `tabular`) per evaluation set, and with pairs "all" one of its pairwise
    comparisons after it; needs \\usepackage{booktabs} in the preamble."""
    return "\n".join(_latex_table(report, s) + _latex_pairwise(report, s) for s in report.sections)


def _latex_table(report: Report, s: Report) -> str:
    best = {m: max((round(x, 4) for v in s.variants if (x := _num(s.metrics[v].get(m))) is not None), default=None)
            for m in s.measures}
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * len(s.measures) + "}", r"\toprule",
             " & ".join(["Variant", *(latex_escape(m) for m in s.measures)]) + r" \\", r"\midrule"]
    for v in s.variants:
        cells = [latex_escape(v) + (r" (baseline)" if v == s.baseline else "")]
        for m in s.measures:
            x = _num(s.metrics[v].get(m))
            if x is None:
                cells.append("--")
                continue
            text = f"{x:.4f}"
            if round(x, 4) == best[m]:
                text = rf"\textbf{{{text}}}"
            sd = (s.seeds.get(v) or {}).get("sd", {}).get(m)
            if sd is not None:
                text += rf" $\pm$ {sd:.4f}"
            mark = s.mark(m, v)
            if mark:
                text += r"$^{\dagger}$" if mark == UP else r"$^{\ddagger}$"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + _caption(report, s) + "}",
              r"\end{table}", ""]
    return "\n".join(lines)


def _where(report: Report, s: Report) -> str:
    """'suite: dataset (split), n queries': the set a table shows (no '(split)' without one)."""
    name, split = s.eval_set or (None, None)
    n = _n_queries(s)
    return (f"{report.suite}: {name or '-'}" + (f" ({split})" if split else "")
            + (f", {n} queries" if n is not None else ""))


def _correction(report: Report) -> str:
    if report.correction == "none":
        return "no correction for multiple comparisons"
    across = "all pairs of variants" if report.pairs == "all" else "the comparisons made"
    return f"{adjusted(report)} p-values across {across} per measure"


def _caption(report: Report, s: Report) -> str:
    """The caption, in LaTeX: the set, bold = best, and what the daggers mean (test, correction, alpha)."""
    text = latex_escape(f"{_where(report, s)}. Best value per measure in bold.")
    if s.seeds:
        text += (r" Seeded arms: mean $\pm$ standard deviation over the seeds; their significance tests use "
                 "per-query scores averaged over the seeds.")
    if s.baseline is None or not any(s.comparisons.values()):
        return text + (" Every pair of variants is compared in the next table." if s.pairwise else
                       " No significance tests.")
    return (text + r" $^{\dagger}$ / $^{\ddagger}$: significantly better / worse than the baseline "
            + latex_escape(f"{s.baseline} ({test_name(report)}, two-sided, {_correction(report)}, ")
            + rf"$\alpha = {report.alpha:g}$)."
            + (" All pairs of variants are compared in the next table." if s.pairwise else ""))


def _latex_pairwise(report: Report, s: Report) -> str:
    """With pairs "all": a `table` of every compared pair per measure (A vs B, Δ with its mark, CI, the
    deciding corrected p-value); "" otherwise."""
    if report.pairs != "all" or not s.pairwise:
        return ""
    p_head = p_headers(report)[1 if report.test == "t" else 0]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{llrrr}", r"\toprule",
             " & ".join(["Measure", "A vs B", r"$\Delta$ (A $-$ B)", latex_escape(f"{pct(report)}% CI"),
                         latex_escape(p_head)]) + r" \\"]
    for m in s.measures:
        pairs = s.pairwise.get(m, {})
        if not pairs:
            continue
        lines.append(r"\midrule")
        for i, ((a, b), c) in enumerate(pairs.items()):
            mark = s.pair_mark(m, a, b)
            diff = fmt_diff(c.diff) + ("" if not mark else r"$^{\dagger}$" if mark == UP else r"$^{\ddagger}$")
            lines.append(" & ".join([latex_escape(m) if i == 0 else "", latex_escape(f"{a} vs {b}"), diff, fmt_ci(c),
                                     latex_escape(fmt_p(c.p_value(report.test)))]) + r" \\")
    caption = (latex_escape(f"{_where(report, s)}: all pairs of variants compared, per measure. ") + r"$\Delta$"
               + latex_escape(f": mean over queries of (A - B) with its {pct(report)}% bootstrap CI; p: "
                              f"{test_name(report)}, two-sided, {_correction(report)}. "))
    caption += (r"$^{\dagger}$ / $^{\ddagger}$: A significantly better / worse than B at "
                rf"$\alpha = {report.alpha:g}$.")
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + caption + "}", r"\end{table}", ""]
    return "\n".join(lines)
