"""Reports from result records: a terminal table, Markdown and one self-contained HTML page with figures.

Owns turning records (never a model, index or run file) into what a reader needs to judge a suite:
each variant's metrics, its paired difference from the baseline with a bootstrap CI, Holm-adjusted
randomization and t-test p-values, win/tie/loss counts and a significance mark; what every measure
means; recall curves; per-stage timings; and the environment needed to reproduce the numbers.

`build_report` does all the computing once; the renderers only format. Output depends only on the
records (no "generated at" timestamp), so a committed report regenerates byte for byte. matplotlib is
imported only when figures are drawn (`rqbench.figures`), so importing this module stays light.
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.io import atomic_write_bytes, atomic_write_text
from rqbench.records import latest_by_variant, load_per_query, read_records

if TYPE_CHECKING:
    from rich.console import Console

    from rqbench.stats import PairedComparison

UP, DOWN = "▲", "▼"
DASH = "—"

# Said once in every report, whatever the records' own definitions say: the three names most often
# confused when comparing with the RocketQA papers.
MEASURE_NOTES = (
    "R@k is trec_eval recall: relevant documents in the top k divided by all relevant documents of the "
    "query. It is not the hit rate.",
    "Success@k is the hit rate: 1 if any relevant document is in the top k, else 0. This is what RocketQA "
    "(and DPR) call \"Recall@k\"; compare their numbers with Success@k, not R@k.",
    "RR@10 is the reciprocal rank of the first relevant document in the top 10 (0 if none), averaged over "
    "all judged queries: MS MARCO's MRR@10.",
)

_FALLBACK_DEFINITIONS = {
    "R": "trec_eval recall at the cut-off (relevant retrieved / all relevant)",
    "Success": "hit rate at the cut-off (1 if any relevant document is retrieved)",
    "RR": "reciprocal rank of the first relevant document, averaged over all judged queries (MRR)",
    "nDCG": "normalised discounted cumulative gain (trec_eval ndcg_cut)",
    "AP": "average precision (trec_eval map)",
    "P": "precision at the cut-off",
}


@dataclass
class Report:
    """Everything a renderer needs, computed once from the latest record of each variant."""

    suite: str
    baseline: str | None
    measures: list[str]
    alpha: float
    variants: list[str]  # in record order
    metrics: dict[str, dict[str, float]]  # variant -> measure -> value
    definitions: dict[str, str]  # measure -> definition text
    comparisons: dict[str, dict[str, PairedComparison]]  # measure -> variant -> comparison vs baseline
    curves: dict[str, dict[str, dict[str, float]]]  # variant -> "R"/"Success" -> {cutoff: value}
    per_query: dict[str, dict[str, dict[str, float]]]  # variant -> measure -> qid -> value
    timings: dict[str, list[dict]]  # variant -> record["stages"]
    meta: dict  # dataset, env, created range, n_queries, stats settings (see build_report)
    notes: list[str] = field(default_factory=list)  # caveats the reader must see (mismatched data, ...)

    def comparison(self, measure: str, variant: str) -> PairedComparison | None:
        return self.comparisons.get(measure, {}).get(variant)

    def mark(self, measure: str, variant: str) -> str:
        """UP / DOWN when significantly better / worse than the baseline at alpha (Holm), else ""."""
        c = self.comparison(measure, variant)
        if c is None or not c.significant(self.alpha):
            return ""
        return UP if c.diff > 0 else DOWN if c.diff < 0 else ""


# --------------------------------------------------------------------------------------------- build


def build_report(
    records: list[dict],
    baseline: str | None = None,
    measures: list[str] | None = None,
    alpha: float = 0.05,
    n_resamples: int = 10000,
    seed: int = 0,
) -> Report:
    """A Report from records as read by `read_records` (the newest record of each variant is used).

    `baseline` None takes the records' config "baseline"; if that variant has no record the report
    has no comparisons and says why. An explicitly named unknown baseline or measure is an error.
    """
    if not records:
        raise RqbenchError("no records to report on (run the suite first)")
    if not 0.0 < alpha < 1.0:
        raise RqbenchError(f"alpha must be between 0 and 1, got {alpha}")
    latest = latest_by_variant(records)
    variants = list(latest)
    notes: list[str] = []

    suites = list(dict.fromkeys(str(r.get("suite", "")) for r in latest.values()))
    if len(suites) > 1:
        notes.append("records come from several suites: " + ", ".join(suites))

    metrics = {v: dict(r.get("metrics") or {}) for v, r in latest.items()}
    known_measures = list(dict.fromkeys(m for v in variants for m in metrics[v]))
    if measures is None:
        measures = _default_measures(list(latest.values()), known_measures)
    else:
        measures = list(dict.fromkeys(measures))
        for m in measures:
            if m not in known_measures:
                raise RqbenchError(f"no record has measure '{m}'" + did_you_mean(m, known_measures))
    if not measures:
        raise RqbenchError("the records hold no metrics")

    baseline = _resolve_baseline(baseline, latest, notes)

    definitions: dict[str, str] = {}
    for m in measures:
        for v in reversed(variants):  # the newest definition wins
            text = (latest[v].get("measures") or {}).get(m)
            if text:
                definitions[m] = str(text)
                break
        else:
            family = _family(m)
            definitions[m] = f"{m}: " + _FALLBACK_DEFINITIONS.get(family, "no definition recorded")

    per_query: dict[str, dict[str, dict[str, float]]] = {}
    unplaced = [v for v, rec in latest.items() if "_path" not in rec]
    if unplaced:  # records straight from a pipeline, not read back: the sidecar cannot be located
        notes.append("per-query values not loaded for " + ", ".join(unplaced) + " (records not read with "
                     "read_records), so they have no comparisons")
    for v, rec in latest.items():
        sidecar = load_per_query(rec) if v not in unplaced else {}
        per_query[v] = {m: {str(q): float(x) for q, x in sidecar[m].items()} for m in measures if m in sidecar}
        if v not in unplaced:
            missing = [m for m in measures if m in metrics[v] and m not in sidecar]
            if missing:
                notes.append(f"variant '{v}' has no per-query values for " + ", ".join(missing))

    comparisons: dict[str, dict[str, PairedComparison]] = {}
    if baseline is not None:
        comparisons = _compare(per_query, variants, baseline, measures, alpha, n_resamples, seed, notes)

    _check_same_data(latest, notes)
    for v in variants:
        missing = [m for m in measures if m not in metrics[v]]
        if missing:
            notes.append(f"variant '{v}' has no value for " + ", ".join(missing))

    meta = _meta(latest, n_resamples=n_resamples, seed=seed, alpha=alpha)
    dirty = [v for v in variants if meta["env"][v].get("git_dirty")]
    if dirty:
        notes.append("produced from a git checkout with uncommitted changes: " + ", ".join(dirty))

    return Report(
        suite=suites[-1] if suites else "",
        baseline=baseline,
        measures=measures,
        alpha=alpha,
        variants=variants,
        metrics=metrics,
        definitions=definitions,
        comparisons=comparisons,
        curves={v: {k: dict(c) for k, c in (r.get("curves") or {}).items()} for v, r in latest.items()},
        per_query=per_query,
        timings={v: list(r.get("stages") or []) for v, r in latest.items()},
        meta=meta,
        notes=notes,
    )


def _family(measure: str) -> str:
    head = re.match(r"[A-Za-z_]+", measure)
    return head.group(0) if head else measure


def _default_measures(latest: list[dict], known: list[str]) -> list[str]:
    """The suite's own order (config "measures") when recorded, else the order metrics appear in."""
    for rec in reversed(latest):
        listed = (rec.get("config") or {}).get("measures")
        if isinstance(listed, list) and listed:
            ordered = [m for m in listed if m in known]
            return ordered + [m for m in known if m not in ordered]
    return known


def _resolve_baseline(baseline: str | None, latest: dict[str, dict], notes: list[str]) -> str | None:
    variants = list(latest)
    if baseline is not None:
        if baseline not in latest:
            raise RqbenchError(f"unknown baseline '{baseline}'" + did_you_mean(baseline, variants))
        return baseline
    for rec in reversed(list(latest.values())):
        configured = (rec.get("config") or {}).get("baseline")
        if configured:
            if configured in latest:
                return str(configured)
            notes.append(
                f"the suite's baseline '{configured}' has no record yet, so there are no comparisons "
                "(run it, or pass a baseline)"
            )
            return None
    return None


def _compare(
    per_query: dict[str, dict[str, dict[str, float]]],
    variants: list[str],
    baseline: str,
    measures: list[str],
    alpha: float,
    n_resamples: int,
    seed: int,
    notes: list[str],
) -> dict[str, dict[str, PairedComparison]]:
    from rqbench.stats import compare_to_baseline  # numpy + scipy: only when there is something to test

    out: dict[str, dict[str, PairedComparison]] = {}
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
        out[m] = compare_to_baseline(family, baseline, m, n_resamples=n_resamples, seed=seed, alpha=alpha)
    return out


def _dataset_key(rec: dict) -> tuple:
    ds = rec.get("dataset") or {}
    fp = ds.get("fingerprints") or {}
    return (ds.get("name"), ds.get("split"), fp.get("queries"), fp.get("qrels"))


def _check_same_data(latest: dict[str, dict], notes: list[str]) -> None:
    keys = {v: _dataset_key(r) for v, r in latest.items()}
    if len(set(keys.values())) > 1:
        groups: dict[tuple, list[str]] = {}
        for v, k in keys.items():
            groups.setdefault(k, []).append(v)
        desc = "; ".join(f"{k[0]}/{k[1]}: {', '.join(vs)}" for k, vs in groups.items())
        notes.append(f"variants were evaluated on different queries or qrels ({desc}); "
                     "comparisons between them are not meaningful")


def _env_summary(rec: dict) -> dict[str, Any]:
    env = rec.get("env") or {}
    git = env.get("git") or {}
    packages = env.get("packages") or {}
    return {
        "rqbench": env.get("rqbench"),
        "git_revision": git.get("revision"),
        "git_dirty": git.get("dirty"),
        "python": env.get("python"),
        "torch": packages.get("torch"),
        "pyserini": packages.get("pyserini"),
        "transformers": packages.get("transformers"),
        "faiss": packages.get("faiss-cpu"),
        "ir_measures": packages.get("ir-measures"),
        "cpu": env.get("cpu"),
        "cpu_count": env.get("cpu_count"),
        "gpu": env.get("gpu"),
        "platform": env.get("platform"),
        "seed": rec.get("seed", env.get("seed")),
    }


def _meta(latest: dict[str, dict], *, n_resamples: int, seed: int, alpha: float) -> dict[str, Any]:
    datasets: list[dict[str, Any]] = []
    for v, rec in latest.items():
        ds = rec.get("dataset") or {}
        entry = {
            "name": ds.get("name"),
            "source": _display_path(ds.get("source")),
            "split": ds.get("split", (rec.get("config") or {}).get("split")),
            "fingerprints": dict(ds.get("fingerprints") or {}),
            "n_docs": ds.get("n_docs"),
            "n_queries": ds.get("n_queries"),
        }
        for known in datasets:
            if {k: known[k] for k in entry} == entry:
                known["variants"].append(v)
                break
        else:
            datasets.append({**entry, "variants": [v]})
    created = sorted(str(r["created"]) for r in latest.values() if r.get("created"))
    return {
        "dataset": datasets[0] if datasets else {},
        "datasets": datasets,
        "env": {v: _env_summary(r) for v, r in latest.items()},
        "created": (created[0], created[-1]) if created else (None, None),
        "n_queries": {v: r.get("n_queries") for v, r in latest.items()},
        "record_ids": {v: r.get("record_id") for v, r in latest.items()},
        "suite_file": next((r.get("suite_file") for r in latest.values() if r.get("suite_file")), None),
        "suite_hash": {v: r.get("suite_hash") for v, r in latest.items()},
        "backend": {v: r.get("backend") for v, r in latest.items()},
        "artifact_hashes": {v: dict(r.get("artifact_hashes") or {}) for v, r in latest.items()},
        "stats": {"n_resamples": n_resamples, "seed": seed, "alpha": alpha},
    }


# ------------------------------------------------------------------------------------------ formatting


def fmt_value(x: float | None) -> str:
    return DASH if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def fmt_diff(x: float) -> str:
    """Signed, 4 decimals; a difference that rounds to zero shows as +0.0000, never -0.0000."""
    return f"{round(x, 4) or 0.0:+.4f}"


def fmt_ci(c: PairedComparison) -> str:
    return f"[{fmt_diff(c.ci_low)}, {fmt_diff(c.ci_high)}]"


def definition_text(measure: str, text: str) -> str:
    """A recorded definition without its leading 'measure: ' (the renderers print the name already)."""
    prefix = f"{measure}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def fmt_p(p: float | None) -> str:
    if p is None:
        return DASH
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def fmt_seconds(s: Any) -> str:
    if s is None:
        return DASH
    s = float(s)
    return f"{s:.2f}" if s < 100 else f"{s:.0f}"


def _compared_measures(report: Report) -> list[str]:
    return [m for m in report.measures if report.comparisons.get(m)]


def _holm_or_raw(holm_p: float | None, raw: float) -> float:
    return holm_p if holm_p is not None else raw


def legend_lines(report: Report) -> list[str]:
    """The marks and the tests, in plain words (measure definitions are listed separately)."""
    pct = round(100 * (1 - report.alpha), 6)
    pct_s = f"{pct:g}"
    if report.baseline is None:
        return ["No baseline: values only, no significance tests."]
    n_cmp = max((len(v) for v in report.comparisons.values()), default=0)
    if n_cmp == 0:
        return [f"Baseline '{report.baseline}', but no other variant has per-query values to test against it."]
    lines = [
        f"{UP} / {DOWN}: significantly better / worse than the baseline '{report.baseline}' at "
        f"alpha = {report.alpha:g}, by the paired randomization test with its p-value Holm-adjusted "
        f"across the {n_cmp} variant(s) compared on the same measure. No mark: not significant.",
        "Δ: mean over queries of (variant - baseline), paired by query id (a query missing on one side "
        f"counts as 0). [CI]: {pct_s}% paired bootstrap percentile interval of that mean "
        f"({report.meta['stats']['n_resamples']} resamples of the queries); it is not adjusted for the "
        "number of comparisons, so it can exclude 0 where the Holm-adjusted test finds no significance.",
        "p (rand.): two-sided paired randomization (sign-flip) test, "
        f"{report.meta['stats']['n_resamples']} random sign vectors, Holm-adjusted. "
        "p (t): two-sided paired t-test, Holm-adjusted the same way.",
        "W/T/L: queries where the variant scores higher / the same / lower than the baseline.",
        f"Random seed of the tests: {report.meta['stats']['seed']}.",
    ]
    return lines


def results_key(report: Report, where_deltas: str) -> str:
    """One line for just below the results table, so the marks need no trip to the legend;
    `where_deltas` says where the renderer put each difference and its CI."""
    if report.baseline is None or not _compared_measures(report):
        return "No significance tests (see the legend)."
    return (f"{UP} / {DOWN}: significantly better / worse than the baseline '{report.baseline}' "
            f"(paired randomization test, Holm-adjusted, alpha = {report.alpha:g}). "
            f"Δ [CI]: mean difference from the baseline and its {_pct(report)}% bootstrap interval, "
            f"{where_deltas}. Details in the legend.")


def _summary_rows(report: Report) -> list[dict[str, Any]]:
    """Per variant: per measure the formatted value, its mark and the 'Δ [CI]' text."""
    rows = []
    for v in report.variants:
        cells = []
        for m in report.measures:
            c = report.comparison(m, v)
            mark = report.mark(m, v)
            cells.append({
                "value": fmt_value(report.metrics[v].get(m)),
                "mark": mark,
                "cls": "up" if mark == UP else "down" if mark == DOWN else "",
                "diff": f"{fmt_diff(c.diff)} {fmt_ci(c)}" if c is not None else "",
                "delta": fmt_diff(c.diff) if c is not None else "",
                "ci": fmt_ci(c) if c is not None else "",
            })
        rows.append({"variant": v, "is_baseline": v == report.baseline, "cells": cells})
    return rows


def _comparison_rows(report: Report, measure: str) -> list[dict[str, Any]]:
    rows = []
    for v in report.variants:
        c = report.comparison(measure, v)
        mark = report.mark(measure, v)
        row = {
            "variant": v,
            "is_baseline": v == report.baseline,
            "value": fmt_value(report.metrics[v].get(measure)),
            "mark": mark,
            "cls": "up" if mark == UP else "down" if mark == DOWN else "",
            "diff": "", "ci": "", "p_rand": "", "p_t": "", "wtl": "", "n": "",
        }
        if c is not None:
            row.update(
                diff=fmt_diff(c.diff),
                ci=fmt_ci(c),
                p_rand=fmt_p(_holm_or_raw(c.p_holm, c.rand_p)),
                p_t=fmt_p(_holm_or_raw(c.t_p_holm, c.t_p)),
                wtl=f"{c.wins}/{c.ties}/{c.losses}",
                n=str(c.n),
            )
        rows.append(row)
    return rows


def _timing_rows(report: Report) -> list[dict[str, Any]]:
    rows = []
    for v in report.variants:
        stages = report.timings.get(v) or []
        total = sum(float(s.get("seconds") or 0.0) for s in stages)
        built = [s.get("built_seconds") for s in stages]
        built_total = sum(float(b) for b in built if b is not None) if any(b is not None for b in built) else None
        for i, s in enumerate(stages):
            cached = s.get("cached")
            rows.append({
                "variant": v if i == 0 else "",
                "kind": str(s.get("kind", DASH)),
                "cached": DASH if cached is None else "yes" if cached else "no",
                "seconds": fmt_seconds(s.get("seconds")),
                "built_seconds": fmt_seconds(s.get("built_seconds")),
                "hash": str(s.get("hash") or "")[:12],
                "total": False,
                "first": i == 0,
            })
        if stages:
            rows.append({"variant": "", "kind": "total", "cached": "", "seconds": fmt_seconds(total),
                         "built_seconds": fmt_seconds(built_total), "hash": "", "total": True, "first": False})
    return rows


def _yes_no(x: Any) -> str:
    return DASH if x is None else "yes" if x else "no"


def _env_rows(report: Report) -> list[dict[str, str]]:
    rows = []
    for v in report.variants:
        e = report.meta["env"][v]
        rows.append({
            "variant": v,
            "git": (e["git_revision"] or DASH)[:12],
            "dirty": _yes_no(e["git_dirty"]),
            "rqbench": e["rqbench"] or DASH,
            "python": e["python"] or DASH,
            "torch": e["torch"] or DASH,
            "pyserini": e["pyserini"] or DASH,
            "cpu": (e["cpu"] or DASH) + (f" ×{e['cpu_count']}" if e.get("cpu_count") else ""),
            "gpu": e["gpu"] or DASH,
            "seed": DASH if e["seed"] is None else str(e["seed"]),
            "record": str(report.meta["record_ids"].get(v) or DASH)[:12],
            "suite_hash": str(report.meta["suite_hash"].get(v) or DASH)[:12],
        })
    return rows


ENV_COLUMNS = [("variant", "Variant"), ("git", "Git rev"), ("dirty", "Dirty"), ("rqbench", "rqbench"),
               ("python", "Python"), ("torch", "torch"), ("pyserini", "pyserini"), ("cpu", "CPU"),
               ("gpu", "GPU"), ("seed", "Seed"), ("suite_hash", "Suite hash"), ("record", "Record")]


def _n_queries_text(report: Report) -> str:
    counts = {n for n in report.meta["n_queries"].values() if n is not None}
    if len(counts) == 1:
        return str(counts.pop())
    return ", ".join(f"{v}: {n}" for v, n in report.meta["n_queries"].items())


def _dataset_text(ds: dict[str, Any]) -> str:
    if not ds:
        return DASH
    return f"{ds.get('name') or DASH} ({ds.get('split') or DASH})"


def _created_text(report: Report) -> str:
    lo, hi = report.meta["created"]
    if lo is None:
        return DASH
    return lo if lo == hi else f"{lo} to {hi}"


# ------------------------------------------------------------------------------------------- terminal


def _display_path(source: str | None) -> str | None:
    """A dataset folder relative to the current folder, so committed reports name no machine's paths."""
    if not source or not os.path.isabs(source):
        return source
    try:
        return os.path.relpath(source)
    except ValueError:  # another drive (Windows)
        return source


def render_terminal(report: Report, console: Console) -> None:
    """A compact rich table: variant rows, one column per measure; each cell holds the value with its
    mark and, for non-baseline variants, the difference and its CI on the lines below (fits 80 columns)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"{report.suite}: {_dataset_text(report.meta['dataset'])}, {_n_queries_text(report)} queries"
    # a long (grid) variant name folds onto several lines rather than squeezing the numbers out
    name_width = min(max(len(v) for v in report.variants) + 2, max(16, console.width // 3)) if report.variants else 8
    per_table = max(1, (console.width - name_width - 2) // 15)  # as many measure columns as fit
    for first in range(0, max(len(report.measures), 1), per_table):
        measures = report.measures[first:first + per_table]
        table = Table(title=title if first == 0 else None, title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        table.add_column("variant", overflow="fold", max_width=name_width)
        for m in measures:
            table.add_column(m, justify="right", no_wrap=True, min_width=13)
        for v in report.variants:
            is_base = v == report.baseline
            cells: list[Text | str] = [Text(v + (" *" if is_base else ""), style="bold" if is_base else "")]
            for m in measures:
                value = report.metrics.get(v, {}).get(m)
                mark = report.mark(m, v)
                style = "green" if mark == UP else "red" if mark == DOWN else ""
                text = "-" if value is None else f"{value:.4f}{' ' + mark if mark else '  '}"
                c = report.comparison(m, v)
                if c is not None:
                    text += f"\n{fmt_diff(c.diff)}  \n[{_short(c.ci_low)},{_short(c.ci_high)}]"
                cells.append(Text(text, style=style))
            table.add_row(*cells)
        console.print(table)
    if report.baseline is not None:
        console.print(Text(
            f"*: baseline. cells: value, difference from '{report.baseline}', its {_pct(report)}% paired-bootstrap CI. "
            f"{UP}/{DOWN}: significant at alpha={report.alpha:g} (paired randomization test, Holm across "
            "variants). Full tables, t-tests, W/T/L and definitions: `rqbench report`.", style="dim"))
    for note in report.notes:
        console.print(Text("note: " + note, style="yellow"))


def _short(x: float) -> str:
    """+0.0123 -> '+.012': a CI bound in five characters ('+.000', never '-.000')."""
    return f"{round(x, 3) or 0.0:+.3f}".replace("0.", ".", 1)


def _pct(report: Report) -> str:
    return f"{round(100 * (1 - report.alpha), 6):g}"


# ------------------------------------------------------------------------------------------- markdown


# Characters that would start Markdown markup inside a name (a grid variant's "[b=0.3]" next to a
# "(...)", "*", "<tag>", "`"); "_" only where it could open or close emphasis, not inside a word.
_MD_SPECIAL = re.compile(r"[\\`*\[\]<]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md_text(text: Any) -> str:
    """Plain text (a variant name, a note, a definition) escaped so Markdown shows it literally."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text))


def _md(text: Any) -> str:
    """A Markdown table cell from Markdown text (plain text goes through `_md_text` first): pipes
    escaped, no newlines."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: Iterable[list[Any]], align: list[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: Report, figure_paths: dict[str, str] | None = None) -> str:
    """GitHub-flavoured Markdown; `figure_paths` maps figure name -> path relative to the file."""
    figure_paths = figure_paths or {}
    out = [f"# rqbench report: {report.suite}", ""]
    out += _md_header(report)
    if report.notes:
        out += ["", "**Notes**", ""] + [f"- {_md_text(n)}" for n in report.notes]

    # values and marks only, one column per measure, so that six measures still fit GitHub's page width
    # without wrapping; each difference and its CI is in the measure's comparison table below
    out += ["", "## Results", ""]
    header = ["Variant"] + [_md_text(m) for m in report.measures]
    body = []
    for row in _summary_rows(report):
        line = [_md_text(row["variant"]) + (" (baseline)" if row["is_baseline"] else "")]
        # the mark before the value, so that the digits of a right-aligned column stay aligned
        line += [f"{cell['mark']}\u00a0{cell['value']}" if cell["mark"] else cell["value"] for cell in row["cells"]]
        body.append(line)
    out += _md_table(header, body)
    out += ["", _md_text(results_key(report, "in each measure's comparison table below"))]

    if _compared_measures(report):
        out += ["", "## Comparisons with the baseline", ""]
        for m in _compared_measures(report):
            out += [f"### {_md_text(m)}", ""]
            rows = [[_md_text(r["variant"]) + (" (baseline)" if r["is_baseline"] else ""), r["value"], r["diff"],
                     r["ci"], r["p_rand"], r["p_t"], r["wtl"], r["mark"]]
                    for r in _comparison_rows(report, m)]
            out += _md_table(["Variant", _md_text(m), "Δ", f"{_pct(report)}% CI", "p (rand., Holm)", "p (t, Holm)",
                              "W/T/L", "Sig."], rows)
            out.append("")
        if out[-1] == "":
            out.pop()

    out += ["", "## Legend", ""] + [f"- {_md_text(line)}" for line in legend_lines(report)]
    out += ["", "### Measures", ""]
    out += [f"- **{_md_text(m)}**: {_md_text(definition_text(m, report.definitions[m]))}"
            for m in report.measures]
    out += [""] + [f"- {_md_text(n)}" for n in MEASURE_NOTES]

    if figure_paths:
        out += ["", "## Figures", ""]
        for name, path in figure_paths.items():
            out += [f"![{_md_text(_figure_title(report, name))}]({path})", ""]
        out.pop()

    out += ["", "## Stage timings", ""]
    timing_rows = _timing_rows(report)
    if timing_rows:
        out += _md_table(
            ["Variant", "Stage", "Cached", "Seconds", "Built seconds", "Artifact"],
            [[_md_text(r["variant"]), f"**{r['kind']}**" if r.get("total") else _md_text(r["kind"]), r["cached"],
              r["seconds"], r["built_seconds"], f"`{r['hash']}`" if r["hash"] else ""]
             for r in timing_rows],
            ["l", "l", "l", "r", "r", "l"],
        )
        out += ["", "Seconds: wall time in the run that wrote the record (near 0 when the artifact was "
                "cached); built seconds: wall time when the artifact was first built."]
    else:
        out.append("No stage timings recorded.")

    out += ["", "## Reproducibility", ""]
    out += _md_reproducibility(report)
    return "\n".join(out) + "\n"


def _md_header(report: Report) -> list[str]:
    lines = [
        f"- Dataset: {_md_text(_dataset_text(report.meta['dataset']))}, {_md_text(_n_queries_text(report))} queries",
        f"- Baseline: {_md_text(report.baseline or DASH)}; alpha = {report.alpha:g}",
        f"- Records created: {_created_text(report)}",
    ]
    if report.meta.get("suite_file"):
        lines.insert(0, f"- Suite file: `{report.meta['suite_file']}`")
    return lines


def _md_reproducibility(report: Report) -> list[str]:
    out = []
    for ds in report.meta["datasets"]:
        out.append(f"- Dataset **{_md_text(_dataset_text(ds))}**"
                   + (f" from `{ds['source']}`" if ds.get("source") else "")
                   + f", {ds.get('n_docs') or DASH} documents, {ds.get('n_queries') or DASH} queries"
                   + (f" (variants: {_md_text(', '.join(ds['variants']))})" if len(report.meta["datasets"]) > 1
                      else ""))
        for part, fp in sorted(ds["fingerprints"].items()):
            out.append(f"  - {part} fingerprint: `{fp}`")
    st = report.meta["stats"]
    out.append(f"- Statistics: {st['n_resamples']} resamples, seed {st['seed']}, alpha {st['alpha']:g}")
    out.append("")
    out += _md_table([label for _, label in ENV_COLUMNS],
                     [[_md_text(r[k]) for k, _ in ENV_COLUMNS] for r in _env_rows(report)],
                     ["l"] * len(ENV_COLUMNS))
    return out


# ----------------------------------------------------------------------------------------------- html


def _figure_title(report: Report, name: str) -> str:
    if name == "recall_curves":
        return "R@k (recall) and Success@k (hit rate) against k"
    if name.startswith("per_query_"):
        m = _figure_measure(report, name)
        return f"Per-query difference from {report.baseline} on {m}"
    return name


def _figure_measure(report: Report, name: str) -> str:
    for m in report.measures:
        if figure_name(m) == name:
            return m
    return name


def figure_name(measure: str) -> str:
    """File-name-safe figure name for a measure's per-query difference plot."""
    return "per_query_" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", measure).strip("_")


def render_figures(report: Report) -> dict[str, bytes]:
    """All figures as PNG bytes, by name: recall curves (if any) and one per-query plot per measure."""
    from rqbench import figures

    out: dict[str, bytes] = {}
    if any(report.curves.get(v) for v in report.variants):
        out["recall_curves"] = figures.recall_curves(report)
    if report.baseline is not None and len(report.variants) > 1:
        for m in report.measures:
            if report.comparisons.get(m):  # some variant besides the baseline has per-query values
                out[figure_name(m)] = figures.per_query_difference(report, m)
    return out


def render_html(report: Report) -> str:
    """One self-contained page: inline CSS, figures as base64 PNGs, no scripts, no external URLs."""
    return _render_html(report, render_figures(report))


def _render_html(report: Report, pngs: dict[str, bytes]) -> str:
    from importlib.resources import files

    import jinja2
    import markupsafe

    source = (files("rqbench") / "templates" / "report.html").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    # a long grid variant name may break after ",", "/" or "[" rather than mid-word
    env.filters["wbr"] = lambda text: markupsafe.Markup(
        re.sub(r"([,/\[])", r"\1<wbr>", str(markupsafe.escape(text))))
    template = env.from_string(source)
    figures = [
        {"name": name, "title": _figure_title(report, name),
         "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}
        for name, png in pngs.items()
    ]
    return template.render(
        r=report,
        pct=_pct(report),
        dataset_text=_dataset_text(report.meta["dataset"]),
        n_queries=_n_queries_text(report),
        created=_created_text(report),
        summary_rows=_summary_rows(report),
        comparison_tables=[
            {"measure": m, "rows": _comparison_rows(report, m)} for m in _compared_measures(report)
        ],
        legend=legend_lines(report),
        results_key=results_key(report, "in small print under each value"),
        definitions={m: definition_text(m, report.definitions[m]) for m in report.measures},
        measure_notes=MEASURE_NOTES,
        figures=figures,
        timing_rows=_timing_rows(report),
        env_columns=ENV_COLUMNS,
        env_rows=_env_rows(report),
        datasets=report.meta["datasets"],
        stats=report.meta["stats"],
    )


# ---------------------------------------------------------------------------------------------- write


def write_report(
    records_path: Path,
    out_dir: Path,
    *,
    baseline: str | None = None,
    measures: list[str] | None = None,
    alpha: float = 0.05,
    n_resamples: int = 10000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write out_dir/report.md, out_dir/report.html and out_dir/figures/*.png, each atomically.

    Figures this report no longer draws (a measure dropped) are removed, so a committed reports folder
    never shows a stale plot. Returns {"markdown": path, "html": path, "figures": [paths]}.
    """
    records_path, out_dir = Path(records_path), Path(out_dir)
    report = build_report(read_records(records_path), baseline=baseline, measures=measures, alpha=alpha,
                          n_resamples=n_resamples, seed=seed)
    pngs = render_figures(report)
    fig_dir = out_dir / "figures"
    written: list[Path] = []
    for name, png in pngs.items():
        path = fig_dir / f"{name}.png"
        atomic_write_bytes(path, png)
        written.append(path)
    if fig_dir.is_dir():
        for stale in [*fig_dir.glob("per_query_*.png"), *fig_dir.glob("recall_curves.png")]:
            if stale not in written:
                stale.unlink()
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, render_markdown(report, {n: f"figures/{n}.png" for n in pngs}))
    atomic_write_text(html_path, _render_html(report, pngs))
    return {"markdown": md_path, "html": html_path, "figures": written}
