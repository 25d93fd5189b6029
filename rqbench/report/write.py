"""Writing a report folder: report.md, report.html and figures/*.png, each atomically (and, on request,
report.json, report.csv and report.tex from `rqbench.report.export`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.io import atomic_write_bytes, atomic_write_text
from rqbench.records import read_records
from rqbench.report.export import report_to_csv, report_to_json, report_to_latex
from rqbench.report.html import render_figures, render_html
from rqbench.report.markdown import render_markdown
from rqbench.report.model import build_report

if TYPE_CHECKING:
    from rqbench.report.model import Report

EXPORTS = ("json", "csv", "tex")  # extra files `write_report_folder` can write next to report.md


def write_report(
    records_path: Path,
    out_dir: Path,
    *,
    baseline: str | None = None,
    measures: list[str] | None = None,
    alpha: float = 0.05,
    n_resamples: int = 10000,
    seed: int = 0,
    test: str = "randomization",
    correction: str = "holm",
    pairs: str = "baseline",
    exports: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Build the report of the records at `records_path` (see `build_report` for the options) and write
    it with `write_report_folder`. Returns what that returns."""
    records_path, out_dir = Path(records_path), Path(out_dir)
    report = build_report(read_records(records_path), baseline=baseline, measures=measures, alpha=alpha,
                          n_resamples=n_resamples, seed=seed, test=test, correction=correction, pairs=pairs)
    return write_report_folder(report, out_dir, exports=exports)


def write_report_folder(report: Report, out_dir: Path, *, exports: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write out_dir/report.md, out_dir/report.html and out_dir/figures/*.png, each atomically, plus
    report.<ext> for each of `exports` ("json", "csv", "tex").

    Figures this report no longer draws (a measure or an evaluation set dropped) are removed, so a
    committed reports folder never shows a stale plot. Returns {"markdown": path, "html": path,
    "figures": [paths]} and one key per export ("json": path, ...).
    """
    out_dir = Path(out_dir)
    for ext in exports:
        if ext not in EXPORTS:
            raise RqbenchError(f"unknown export format '{ext}'" + did_you_mean(ext, EXPORTS))
    pngs = render_figures(report)
    fig_dir = out_dir / "figures"
    written: list[Path] = []
    for name, png in pngs.items():
        path = fig_dir / f"{name}.png"
        atomic_write_bytes(path, png)
        written.append(path)
    if fig_dir.is_dir():
        for stale in [*fig_dir.glob("per_query_*.png"), *fig_dir.glob("recall_curves*.png")]:
            if stale not in written:
                stale.unlink()
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, render_markdown(report, {n: f"figures/{n}.png" for n in pngs}))
    atomic_write_text(html_path, render_html(report, pngs))
    result: dict[str, Any] = {"markdown": md_path, "html": html_path, "figures": written}
    texts = {"json": lambda: json.dumps(report_to_json(report), indent=2, ensure_ascii=False) + "\n",
             "csv": lambda: report_to_csv(report), "tex": lambda: report_to_latex(report)}
    for ext in dict.fromkeys(exports):
        result[ext] = out_dir / f"report.{ext}"
        atomic_write_text(result[ext], texts[ext]())
    return result
