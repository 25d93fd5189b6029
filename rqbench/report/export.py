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

CSV (`report_to_csv`): a header row, then one row per set x variant x measure with the value and, for
a variant compared with the baseline, the comparison columns (empty otherwise).

LaTeX (`report_to_latex`): per set a `table` with a booktabs `tabular` (variants x measures), the best
value of each measure in bold, a dagger / double dagger for significantly better / worse than the
baseline, and a caption naming the test, the correction and alpha.
"""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING, Any

from rqbench.report.format import UP
from rqbench.report.legend import adjusted, test_name

if TYPE_CHECKING:
    from rqbench.report.model import Report
    from rqbench.stats import PairedComparison

JSON_SCHEMA = 1
CSV_COLUMNS = ["dataset", "split", "variant", "measure", "value", "baseline", "diff", "ci_low", "ci_high", "p",
               "p_corrected", "t_p", "t_p_corrected", "wins", "ties", "losses", "significant"]
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
            if per_query:
                entry["per_query"] = {m: dict(values) for m, values in s.per_query.get(v, {}).items()}
            variants.append(entry)
        sets.append({"dataset": name, "split": split, "n_queries": _n_queries(s), "variants": variants,
                     "comparisons": _set_comparisons(s)})
    return {"schema": JSON_SCHEMA, "suite": report.suite, "measures": list(report.measures), "alpha": report.alpha,
            "test": report.test, "correction": report.correction, "pairs": report.pairs, "baseline": report.baseline,
            "sets": sets, "notes": list(report.notes)}


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    return str(x)


def report_to_csv(report: Report) -> str:
    """A header row (`CSV_COLUMNS`), then one row per set x variant x measure; numbers at full precision."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in report.sections:
        name, split = s.eval_set or (None, None)
        for v in s.variants:
            for m in s.measures:
                row = [name, split, v, m, s.metrics[v].get(m)]
                c = s.comparison(m, v)
                if c is None:
                    row += [s.baseline] + [None] * (len(CSV_COLUMNS) - len(row) - 1)
                else:
                    j = _comparison_json(s, m, v, s.baseline or "", c)
                    row += [s.baseline, j["diff"], *j["ci"], j["p"], j["p_corrected"], j["t_p"], j["t_p_corrected"],
                            j["wins"], j["ties"], j["losses"], j["significant"]]
                writer.writerow([_cell(x) for x in row])
    return out.getvalue()


def latex_escape(text: Any) -> str:
    """Plain text made safe inside LaTeX: _ % & # $ { } ~ ^ and backslash escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def report_to_latex(report: Report) -> str:
    """One `table` (booktabs `tabular`) per evaluation set; needs \\usepackage{booktabs} in the preamble."""
    return "\n".join(_latex_table(report, s) for s in report.sections)


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
            mark = s.mark(m, v)
            if mark:
                text += r"$^{\dagger}$" if mark == UP else r"$^{\ddagger}$"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + _caption(report, s) + "}",
              r"\end{table}", ""]
    return "\n".join(lines)


def _caption(report: Report, s: Report) -> str:
    """The caption, in LaTeX: the set, bold = best, and what the daggers mean (test, correction, alpha)."""
    name, split = s.eval_set or (None, None)
    n = _n_queries(s)
    where = f"{report.suite}: {name or '-'} ({split or '-'})" + (f", {n} queries" if n is not None else "")
    text = latex_escape(f"{where}. Best value per measure in bold.")
    if s.baseline is None or not any(s.comparisons.values()):
        return text + " No significance tests."
    correction = ("no correction for multiple comparisons" if report.correction == "none" else
                  f"{adjusted(report)} p-values across the comparisons made per measure")
    return (text + r" $^{\dagger}$ / $^{\ddagger}$: significantly better / worse than the baseline "
            + latex_escape(f"{s.baseline} ({test_name(report)}, two-sided, {correction}, ")
            + rf"$\alpha = {report.alpha:g}$).")
