"""Writing a report folder: report.md, report.html and figures/*.png, each atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rqbench.io import atomic_write_bytes, atomic_write_text
from rqbench.records import read_records
from rqbench.report.html import render_figures, render_html
from rqbench.report.markdown import render_markdown
from rqbench.report.model import build_report


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

    Figures this report no longer draws (a measure or an evaluation set dropped) are removed, so a
    committed reports folder never shows a stale plot. Returns {"markdown": path, "html": path,
    "figures": [paths]}.
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
        for stale in [*fig_dir.glob("per_query_*.png"), *fig_dir.glob("recall_curves*.png")]:
            if stale not in written:
                stale.unlink()
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, render_markdown(report, {n: f"figures/{n}.png" for n in pngs}))
    atomic_write_text(html_path, render_html(report, pngs))
    return {"markdown": md_path, "html": html_path, "figures": written}
