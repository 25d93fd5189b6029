"""Formatting shared by every renderer: numbers, marks, the legend and definition texts, table rows,
figure names and titles. Pure functions of a `Report`; nothing here computes a statistic."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from rqbench.report.model import Report
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

_NOTE_FAMILIES = ("R", "Success", "RR")  # the measure family each of MEASURE_NOTES explains

ENV_COLUMNS = [("variant", "Variant"), ("git", "Git rev"), ("dirty", "Dirty"), ("rqbench", "rqbench"),
               ("python", "Python"), ("torch", "torch"), ("pyserini", "pyserini"), ("cpu", "CPU"),
               ("gpu", "GPU"), ("seed", "Seed"), ("suite_hash", "Suite hash"), ("record", "Record")]


# ------------------------------------------------------------------------------------------- numbers


def fmt_value(x: float | None) -> str:
    return DASH if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def fmt_metric(report: Report, variant: str, measure: str) -> str:
    """A variant's value on a measure as tables show it: 4 decimals, and for a multi-seed arm the mean
    with its standard deviation over the seeds, '0.6021 ± 0.0034'."""
    value = report.metrics.get(variant, {}).get(measure)
    sd = (report.seeds.get(variant) or {}).get("sd", {}).get(measure)
    if sd is None or value is None:
        return fmt_value(value)
    return f"{fmt_value(value)} ± {fmt_value(sd)}"


def fmt_diff(x: float) -> str:
    """Signed, 4 decimals; a difference that rounds to zero shows as +0.0000, never -0.0000."""
    return f"{round(x, 4) or 0.0:+.4f}"


def fmt_ci(c: PairedComparison) -> str:
    return f"[{fmt_diff(c.ci_low)}, {fmt_diff(c.ci_high)}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return DASH
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def fmt_seconds(s: Any) -> str:
    if s is None:
        return DASH
    s = float(s)
    return f"{s:.2f}" if s < 100 else f"{s:.0f}"


def fmt_short(x: float) -> str:
    """+0.0123 -> '+.012': a CI bound in five characters ('+.000', never '-.000')."""
    return f"{round(x, 3) or 0.0:+.3f}".replace("0.", ".", 1)


def pct(report: Report) -> str:
    """The confidence level in percent, e.g. '95'."""
    return f"{round(100 * (1 - report.alpha), 6):g}"


def measure_family(measure: str) -> str:
    """'nDCG' of 'nDCG@10', 'RR' of 'RR(rel=2)@10': the name before any parameter or cut-off."""
    head = re.match(r"[A-Za-z_]+", measure)
    return head.group(0) if head else measure


def measure_notes(report: Report) -> list[str]:
    """The MEASURE_NOTES a report shows: all of them in a suite's report (as it always has), only those
    on the measures it has in a report from run files."""
    if not report.meta.get("from_runs"):
        return list(MEASURE_NOTES)
    families = {measure_family(m) for m in report.measures}
    return [note for note, family in zip(MEASURE_NOTES, _NOTE_FAMILIES, strict=True) if family in families]


def definition_text(measure: str, text: str) -> str:
    """A recorded definition without its leading 'measure: ' (the renderers print the name already)."""
    prefix = f"{measure}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _yes_no(x: Any) -> str:
    return DASH if x is None else "yes" if x else "no"


# ----------------------------------------------------------------------------------------- header text


def dataset_text(ds: dict[str, Any]) -> str:
    """'name (split)', or the name alone when there is no split (a qrels file compared on its own)."""
    if not ds:
        return DASH
    return f"{ds.get('name') or DASH}" + (f" ({ds['split']})" if ds.get("split") else "")


def n_queries_text(report: Report) -> str:
    """Query count of a one-set report (one number, or one per variant when they differ)."""
    counts = {n for n in report.meta["n_queries"].values() if n is not None}
    if len(counts) == 1:
        return str(counts.pop())
    return ", ".join(f"{v}: {n}" for v, n in report.meta["n_queries"].items())


def sets_text(report: Report) -> str:
    """Every evaluation set with its query count: 'scifact (test), 300 queries; nq (dev), 50 queries'."""
    return "; ".join(f"{dataset_text(s.meta['dataset'])}, {n_queries_text(s)} queries" for s in report.sections)


def created_text(report: Report) -> str:
    lo, hi = report.meta["created"]
    if lo is None:
        return DASH
    return lo if lo == hi else f"{lo} to {hi}"


def compared_measures(report: Report) -> list[str]:
    return [m for m in report.measures if report.comparisons.get(m)]


# ------------------------------------------------------------------------------------------ table rows


def _mark_class(mark: str) -> str:
    return "up" if mark == UP else "down" if mark == DOWN else ""


def summary_rows(report: Report) -> list[dict[str, Any]]:
    """Per variant of a one-set report: per measure the formatted value, its mark and the 'Δ [CI]' text."""
    rows = []
    for v in report.variants:
        cells = []
        for m in report.measures:
            c = report.comparison(m, v)
            mark = report.mark(m, v)
            cells.append({
                "value": fmt_metric(report, v, m),
                "mark": mark,
                "cls": _mark_class(mark),
                "diff": f"{fmt_diff(c.diff)} {fmt_ci(c)}" if c is not None else "",
                "delta": fmt_diff(c.diff) if c is not None else "",
                "ci": fmt_ci(c) if c is not None else "",
            })
        rows.append({"variant": v, "is_baseline": v == report.baseline, "cells": cells})
    return rows


def comparison_rows(report: Report, measure: str) -> list[dict[str, Any]]:
    rows = []
    for v in report.variants:
        c = report.comparison(measure, v)
        mark = report.mark(measure, v)
        row = {
            "variant": v,
            "is_baseline": v == report.baseline,
            "value": fmt_metric(report, v, measure),
            "mark": mark,
            "cls": _mark_class(mark),
            "diff": "", "ci": "", "p_rand": "", "p_t": "", "wtl": "", "n": "",
        }
        if c is not None:
            row.update(
                diff=fmt_diff(c.diff),
                ci=fmt_ci(c),
                p_rand=fmt_p(c.p_value("randomization")),
                p_t=fmt_p(c.p_value("t")),
                wtl=f"{c.wins}/{c.ties}/{c.losses}",
                n=str(c.n),
            )
        rows.append(row)
    return rows


def pairwise_measures(report: Report) -> list[str]:
    """The measures with pairwise comparisons (pairs="all"), in report order."""
    return [m for m in report.measures if report.pairwise.get(m)]


def pairwise_rows(report: Report, measure: str) -> list[dict[str, Any]]:
    """One row per compared pair (a, b) of a one-set report: 'a vs b', both values, Δ = a - b with its
    CI, corrected p-values of both tests, W/T/L (a's wins), n and the mark (a better / worse than b)."""
    rows = []
    for (a, b), c in report.pairwise.get(measure, {}).items():
        mark = report.pair_mark(measure, a, b)
        rows.append({
            "a": a, "b": b, "pair": f"{a} vs {b}",
            "value_a": fmt_metric(report, a, measure),
            "value_b": fmt_metric(report, b, measure),
            "diff": fmt_diff(c.diff), "ci": fmt_ci(c), "ci_short": f"[{fmt_short(c.ci_low)},{fmt_short(c.ci_high)}]",
            "p_rand": fmt_p(c.p_value("randomization")), "p_t": fmt_p(c.p_value("t")),
            "wtl": f"{c.wins}/{c.ties}/{c.losses}", "n": str(c.n), "mark": mark, "cls": _mark_class(mark),
        })
    return rows


def _record_rows(report: Report) -> list[tuple[Report, str, str]]:
    """(section, variant, row label) of every record the report shows; with several evaluation sets the
    label names the set too."""
    return [(s, v, f"{v}, {s.label}" if report.sets else v) for s in report.sections for v in s.variants]


def timing_rows(report: Report) -> list[dict[str, Any]]:
    rows = []
    for s, v, label in _record_rows(report):
        stages = s.timings.get(v) or []
        total = sum(float(st.get("seconds") or 0.0) for st in stages)
        built = [st.get("built_seconds") for st in stages]
        built_total = sum(float(b) for b in built if b is not None) if any(b is not None for b in built) else None
        for i, st in enumerate(stages):
            cached = st.get("cached")
            rows.append({
                "variant": label if i == 0 else "",
                "kind": str(st.get("kind", DASH)) + (f" (seed {st['seed']})" if "seed" in st else ""),
                "cached": DASH if cached is None else "yes" if cached else "no",
                "seconds": fmt_seconds(st.get("seconds")),
                "built_seconds": fmt_seconds(st.get("built_seconds")),
                "hash": str(st.get("hash") or "")[:12],
                "total": False,
                "first": i == 0,
            })
        if stages:
            rows.append({"variant": "", "kind": "total", "cached": "", "seconds": fmt_seconds(total),
                         "built_seconds": fmt_seconds(built_total), "hash": "", "total": True, "first": False})
    return rows


TRAINING_NOTE = (
    "Candidates: passages per query in a step, the positive and its own negatives (RocketQAv2's list length K; "
    "in-batch and cross-batch negatives not counted). Per "
    "step: queries (lists) per optimizer step over all processes. Built seconds: the training's wall time when it "
    "was built (of a resumed run, its last attempt's); s/step: the training loop's seconds a step (its last "
    "attempt). Peak RSS: the main process's peak resident memory during training (with several processes, the "
    "first's; with a suite's --jobs > 1, stages built beside it count too); growth: how far the resident memory "
    "rose above its level when the training loop started (blank where the peak could not be reset); in a process "
    "that built other stages first, memory they freed is reused, so growth understates what training needs "
    "(benchmarks/joint_training.py measures it in fresh processes). GPU peak: the CUDA allocator's peak, for "
    "training on a GPU.")


def _seconds_a_step(t: dict[str, Any], built: Any) -> float | None:
    """The training loop's own seconds a step in its last attempt (a resumed run's attempt covers only its
    steps); older records: built seconds over steps."""
    steps, first, elapsed = t.get("steps"), t.get("attempt_first_step"), t.get("elapsed_s")
    if isinstance(steps, int) and isinstance(first, int) and isinstance(elapsed, int | float) and steps >= first:
        return float(elapsed) / (steps - first + 1)
    return float(built) / steps if isinstance(steps, int) and steps and built is not None else None


def training_rows(report: Report) -> list[dict[str, str]]:
    """Each variant's own training (its `train` stage, per seed), once: what it trained and what it cost.
    Rows exist only for records that carry the stage's figures (`training`); a record whose stage was
    cached in that run still names the wall time of the build."""
    rows, seen = [], set()
    for s, v, label in _record_rows(report):
        for st in s.timings.get(v) or []:
            t = st.get("training")
            if st.get("role") != "train" or not isinstance(t, dict) or st.get("hash") in seen:
                continue
            seen.add(st.get("hash"))
            steps, built = t.get("steps"), st.get("built_seconds")
            per_step = _seconds_a_step(t, built)
            batch = t.get("batch_size")
            per_step_batch = DASH if batch is None else str(batch * int(t.get("nproc") or 1)
                                                            * int(t.get("grad_accumulation") or 1))
            peak, start = t.get("peak_rss_mib"), t.get("start_rss_mib")
            own_peak = t.get("peak_reset") is not False  # without a reset the peak is the whole process's
            gpu = t.get("cuda_peak_mib")
            rows.append({
                "variant": label, "seed": DASH if st.get("seed") is None else str(st["seed"]),
                "task": str(t.get("task") or DASH), "candidates": str(t.get("candidates") or DASH),
                "batch": per_step_batch, "steps": DASH if steps is None else str(steps),
                "built_seconds": fmt_seconds(built), "per_step": fmt_seconds(per_step),
                "peak": DASH if peak is None else f"{peak:,.0f}",
                "growth": DASH if peak is None or start is None or not own_peak else f"{peak - start:,.0f}",
                "gpu": DASH if gpu is None else f"{gpu:,.0f}",
            })
    return rows


def env_rows(report: Report) -> list[dict[str, str]]:
    rows = []
    for s, v, label in _record_rows(report):
        e = s.meta["env"][v]
        rows.append({
            "variant": label,
            "git": (e["git_revision"] or DASH)[:12],
            "dirty": _yes_no(e["git_dirty"]),
            "rqbench": e["rqbench"] or DASH,
            "python": e["python"] or DASH,
            "torch": e["torch"] or DASH,
            "pyserini": e["pyserini"] or DASH,
            "cpu": (e["cpu"] or DASH) + (f" ×{e['cpu_count']}" if e.get("cpu_count") else ""),
            "gpu": e["gpu"] or DASH,
            "seed": DASH if e["seed"] is None else str(e["seed"]),
            "record": str(s.meta["record_ids"].get(v) or DASH)[:12],
            "suite_hash": str(s.meta["suite_hash"].get(v) or DASH)[:12],
        })
    return rows


# --------------------------------------------------------------------------------------------- figures


class PlannedFigure(NamedTuple):
    section: Report  # the evaluation set it belongs to (the report itself when there is one set)
    base: str  # "recall_curves" or figure_name(measure)
    name: str  # file name without ".png": base, suffixed with the set's slug when there are several
    measure: str | None  # None for the recall curves


def figure_name(measure: str) -> str:
    """File-name-safe figure name for a measure's per-query difference plot."""
    return "per_query_" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", measure).strip("_")


def planned_figures(report: Report) -> list[PlannedFigure]:
    """Every figure the report draws, in order: per evaluation set the recall curves (if any) and one
    per-query plot per compared measure."""
    out = []
    for s in report.sections:
        suffix = f"_{s.slug}" if report.sets else ""
        if any(s.curves.get(v) for v in s.variants):
            out.append(PlannedFigure(s, "recall_curves", "recall_curves" + suffix, None))
        if s.baseline is not None and len(s.variants) > 1:
            for m in s.measures:
                if s.comparisons.get(m):  # some variant besides the baseline has per-query values
                    out.append(PlannedFigure(s, figure_name(m), figure_name(m) + suffix, m))
    return out


def figure_title(report: Report, name: str) -> str:
    if name == "recall_curves":
        return "R@k (recall) and Success@k (hit rate) against k"
    if name.startswith("per_query_"):
        m = next((m for m in report.measures if figure_name(m) == name), name)
        return f"Per-query difference from {report.baseline} on {m}"
    return name


def place_figures(report: Report, names: list[str]) -> tuple[list[list[tuple[str, str]]], list[tuple[str, str]]]:
    """(name, title) of the given figures: per section (only with several evaluation sets, where each
    set shows its own figures) and the rest, shown once after the legend."""
    per_section: list[list[tuple[str, str]]] = [[] for _ in report.sections]
    claimed: set[str] = set()
    if report.sets:
        wanted = set(names)
        for f in planned_figures(report):
            if f.name in wanted:
                i = next(i for i, s in enumerate(report.sections) if s is f.section)
                per_section[i].append((f.name, figure_title(f.section, f.base)))
                claimed.add(f.name)
    rest = [(n, figure_title(report, n)) for n in names if n not in claimed]
    return per_section, rest
