"""Report figures as PNG bytes: recall / hit-rate curves and per-query differences from the baseline.

Drawn on a bare `matplotlib.figure.Figure` with an Agg canvas (no pyplot), so the process's backend is
left alone,
and under matplotlib's default style with fixed size and dpi, so a user's matplotlibrc cannot change the
output. PNGs carry no "Software" or time metadata: the same records give the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import matplotlib.style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from rqbench.report.format import DOWN, UP, fmt_ci, fmt_diff

if TYPE_CHECKING:
    from rqbench.report.model import Report

DPI = 110
_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("s", "^", "D", "v", "P", "X", "*", "<", ">", "h")  # the baseline has "o"
_GOOD, _BAD = "#2a9d4a", "#c8383a"
_GOOD_TEXT, _BAD_TEXT = "#19773a", "#b3261e"  # as the HTML report's marks


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


def _wrap(text: str, width: int) -> str:
    """`text` on lines of at most `width` characters, broken after ',', '/', ' ' or '[' where possible
    (long grid variant names), else mid-word."""
    lines: list[str] = []
    line = ""
    for token in re.findall(r"[^,/ \[]*[,/ \[]?", text):
        while len(token) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(token[:width])
            token = token[width:]
        if line and len(line) + len(token) > width:
            lines.append(line)
            line = ""
        line += token
    if line:
        lines.append(line)
    return "\n".join(s.rstrip() for s in lines) or text


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)  # the Agg canvas explicitly: no global backend switch
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def recall_curves(report: Report) -> bytes:
    """Two panels, R@k (trec_eval recall) and Success@k (hit rate) against k on a log axis, a line per
    variant (the baseline drawn thicker)."""
    panels = (("R", "R@k (recall)"), ("Success", "Success@k (hit rate; RocketQA's \"Recall@k\")"))
    with _style():
        fig = Figure(figsize=(10, 4.2), dpi=DPI, layout="constrained")
        axes = fig.subplots(1, 2, sharex=True)
        others = [v for v in report.variants if v != report.baseline]
        for ax, (key, title) in zip(axes, panels, strict=True):
            cutoffs: set[int] = set()
            for v in report.variants:
                points = sorted((int(k), float(x)) for k, x in (report.curves.get(v, {}).get(key) or {}).items())
                if not points:
                    continue
                ks, ys = zip(*points, strict=True)
                cutoffs.update(ks)
                if v == report.baseline:  # black and on top, so a variant equal to it cannot hide it
                    style = {"color": "black", "linewidth": 2.0, "linestyle": "--", "zorder": 4,
                             "marker": "o", "markersize": 3.5}
                else:  # colour, marker and (past 10 variants) line style, so 8+ lines stay apart
                    i = others.index(v)
                    style = {"color": f"C{i % 10}", "linewidth": 1.4, "zorder": 3,
                             "linestyle": _LINESTYLES[(i // 10) % len(_LINESTYLES)],
                             "marker": _MARKERS[i % len(_MARKERS)], "markersize": 4}
                ax.plot(ks, ys, label=_wrap(v + (" (baseline)" if v == report.baseline else ""), 48),
                        **style)
            ax.set_xscale("log")
            if cutoffs:
                ax.set_xticks(sorted(cutoffs), labels=[str(k) for k in sorted(cutoffs)])
                ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("cut-off k")
            ax.set_title(title)
            ax.set_ylim(0, 1.02)
            ax.set_ylabel("mean over queries")
        handles, labels = axes[0].get_legend_handles_labels()
        if not handles:
            handles, labels = axes[1].get_legend_handles_labels()
        if handles:
            # as many columns as fit the figure's width (about 4.5 pt a character at 8 pt, plus the handle)
            widest = max(len(line) for label in labels for line in label.split("\n"))
            fit = int(10 * 72 * 0.95 // (widest * 4.5 + 40))
            fig.legend(handles, labels, loc="outside lower center", ncols=max(1, min(len(labels), 4, fit)))
        return _png(fig)


def per_query_difference(report: Report, measure: str) -> bytes:
    """Per non-baseline variant: its per-query differences from the baseline on `measure`, sorted
    descending and drawn as an area (green above zero, red below), with W/T/L and the mean Δ [CI]."""
    if report.baseline is None:
        raise ValueError("per-query differences need a baseline")
    base = report.per_query.get(report.baseline, {}).get(measure, {})
    others = [v for v in report.variants if v != report.baseline and measure in report.per_query.get(v, {})]
    if not others:
        raise ValueError(f"no variant besides the baseline has per-query values for {measure}")
    ncols = 1 if len(others) <= 4 else 2
    nrows = -(-len(others) // ncols)
    with _style():
        fig = Figure(figsize=(9 if ncols == 1 else 12, 0.6 + 2.1 * nrows), dpi=DPI, layout="constrained")
        axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
        fig.suptitle(_wrap(f"{measure}: per-query difference from the baseline {report.baseline}", 110),
                     x=0.01, ha="left", fontsize=10, fontweight="bold")
        title_width = 100 if ncols == 1 else 62  # characters that fit above one panel
        for i, (ax, v) in enumerate(zip(axes, others, strict=False)):
            values = report.per_query[v][measure]
            qids = sorted(set(values) | set(base))  # the union, 0 where missing: as rqbench.stats pairs
            diffs = sorted((values.get(q, 0.0) - base.get(q, 0.0) for q in qids), reverse=True)
            # one full-width step per query (each value twice, at its left and right edge), so the last
            # win and the first loss are as wide as the others
            xs = [x for j in range(len(diffs)) for x in (j - 0.5, j + 0.5)]
            ys = [d for d in diffs for _ in (0, 1)]
            zeros = [0.0] * len(ys)
            ax.fill_between(xs, ys, zeros, where=[d > 0 for d in ys], color=_GOOD, alpha=0.85, linewidth=0)
            ax.fill_between(xs, ys, zeros, where=[d < 0 for d in ys], color=_BAD, alpha=0.85, linewidth=0)
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_xlim(-0.5, max(len(diffs) - 0.5, 0.5))
            c = report.comparison(measure, v)
            if c is not None:
                wins, ties, losses = c.wins, c.ties, c.losses
                summary = f"mean Δ {fmt_diff(c.diff)} {fmt_ci(c)}"  # as in the tables: never -0.0000
            else:
                wins = sum(d > 1e-12 for d in diffs)
                losses = sum(d < -1e-12 for d in diffs)
                ties = len(diffs) - wins - losses
                summary = f"mean Δ {fmt_diff(sum(diffs) / max(len(diffs), 1))}"
            mark = report.mark(measure, v)
            ax.set_title(_wrap(f"{v} − {report.baseline}", title_width) + (f"  {mark}" if mark else ""),
                         loc="left", color=_GOOD_TEXT if mark == UP else _BAD_TEXT if mark == DOWN else "black")
            ax.text(0.99, 0.95, f"wins {wins} · ties {ties} · losses {losses}\n{summary}",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8,
                    bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "alpha": 0.8, "linewidth": 0})
            if i % ncols == 0:  # the panels of a row share the y axis: label it once
                ax.set_ylabel(f"Δ {measure}")
            if i + ncols >= len(others):  # the lowest panel of its column
                ax.set_xlabel("queries, sorted by difference")
        for ax in axes[len(others):]:
            ax.set_visible(False)
        return _png(fig)
