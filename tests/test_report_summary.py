"""Reports lead with the answer: report.md, report.html and the terminal view open with a short summary
(each declared contrast's verdict, difference and CI; without contrasts, each evaluation set's headline
against the baseline) before any table; the terminal view reads at 80 columns with every name whole.
Hand-written records with inline per-query values; the CLI through a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rqbench.report import build_report, render_html, render_markdown
from rqbench.report.format import fmt_ci, fmt_diff
from rqbench.report.mdtext import md_text

QIDS = [f"q{i}" for i in range(12)]
CONTRASTS = [
    {"name": "cross-batch-negatives", "a": "md0[seed=13]", "b": "bm25", "expect": "a>b"},
    {"name": "denoising-helps", "a": "md1-undenoised.long-name", "b": "md0[seed=13]", "expect": "a>b"},
    {"name": "same-as-bm25", "a": "md1-undenoised.long-name", "b": "bm25", "expect": "a=b", "margin": 0.01},
    {"name": "ghost-arm", "a": "ghost", "b": "bm25", "expect": "a>b"},
]


def records(contrasts: list[dict] | None = None, sets: tuple[str, ...] = ("test",)) -> list[dict]:
    """bm25 (the baseline), md0[seed=13] (+0.3 on every query) and md1-undenoised.long-name (md0 - 0.01 +-0.1,
    by query) on each split of toyset, with the measures RR@10 and nDCG@10, declaring
    `contrasts`."""
    declared = [{"claim": None, "measures": None, "evaluations": None, **c} for c in (contrasts or [])]
    out = []
    for split in sets:
        for variant, shift, swing in (("bm25", 0.0, 0.0), ("md0[seed=13]", 0.3, 0.0),
                                      ("md1-undenoised.long-name", 0.29, 0.1)):
            per_query = {q: 0.45 + shift + 0.05 * ((i * 7) % 5 - 2) + swing * (-1) ** i for i, q in enumerate(QIDS)}
            values = {m: per_query for m in ("RR@10", "nDCG@10")}
            out.append({"schema": 1, "suite": "claims", "variant": variant, "n_queries": len(QIDS),
                        "dataset": {"name": "toyset", "split": split}, "config": {"baseline": "bm25"},
                        "evaluation": {"name": f"toyset-{split}"},
                        "metrics": {m: sum(v.values()) / len(v) for m, v in values.items()}, "per_query": values,
                        "suite_contrasts": declared})
    return out


def _summary_section(md: str) -> str:
    return md.split("## Summary\n", 1)[1].split("\n## ", 1)[0]


def test_markdown_opens_with_every_contrast_verdict() -> None:
    report = build_report(records(CONTRASTS), n_resamples=200)
    md = render_markdown(report)
    lines = md.splitlines()
    assert lines.index("## Summary") < 10 and lines.index("## Results") < 30  # the answer, then the tables
    summary = _summary_section(md)
    assert len(report.contrasts) == 4
    for r in report.contrasts:
        row = next(line for line in summary.splitlines() if line.startswith(f"| {r.name} |"))
        assert r.verdict in row
        if r.comparison is not None:
            assert fmt_diff(r.comparison.diff) in row and fmt_ci(r.comparison) in row
    verdicts = [r.verdict for r in report.contrasts]
    assert verdicts == ["holds", "not significant", "contradicted", "not run"]
    assert md.index("## Summary") < md.index("## Contrasts")  # the full section stays, further down


def test_several_sets_name_the_set_in_the_summary() -> None:
    report = build_report(records(CONTRASTS[:1], sets=("test", "dev")), n_resamples=100)
    summary = _summary_section(render_markdown(report))
    assert "| Contrast | Evaluation set | Measure | Verdict |" in summary
    assert "| cross-batch-negatives | toyset (test) | RR@10 | **holds** |" in summary
    assert "| cross-batch-negatives | toyset (dev) | RR@10 | **holds** |" in summary


def test_without_contrasts_the_headline_is_the_baseline_comparison() -> None:
    report = build_report(records(), n_resamples=200)
    md = render_markdown(report)
    c = report.comparison("RR@10", "md0[seed=13]")
    best = report.metrics["md0[seed=13]"]["RR@10"]
    expected = (f"RR@10: best is md0[seed=13] ({best:.4f}), {fmt_diff(c.diff)} (95% CI {fmt_ci(c)}) against the "
                f"baseline bm25 ({report.metrics['bm25']['RR@10']:.4f}), significant; 2 of 2 variants "
                "significantly better than the baseline, none worse.")
    assert f"- {md_text(expected)}" in md.splitlines()[:15]
    page = render_html(report, {})
    assert page.index('<section id="summary">') < page.index('<section id="results">')
    assert expected in page


def test_html_opens_with_the_contrasts() -> None:
    page = render_html(build_report(records(CONTRASTS), n_resamples=200), {})
    summary = page[page.index('<section id="summary">'):page.index('<section id="results">')]
    assert summary.count("<tr>") == 1 + 4 and '<td class="name verdict up">holds</td>' in summary
    assert '<td class="name verdict down">contradicted</td>' in summary and ">not run</td>" in summary


def test_terminal_report_leads_with_the_answer_at_80_columns(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records(CONTRASTS, sets=("test", "dev"))), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", "report", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    first_table = next(i for i, line in enumerate(lines) if line.split()[:1] == ["variant"])
    lead = lines[:first_table]
    assert lead[0].startswith("claims: summary")
    for name, verdict in (("cross-batch-negatives", "holds"), ("denoising-helps", "not significant"),
                          ("same-as-bm25", "contradicted"), ("ghost-arm", "not run")):
        assert any(line.split()[:1] == [name] and verdict in line for line in lead), name
    for name in ("md0[seed=13]", "md1-undenoised.long-name", "cross-batch-negatives"):  # whole in every table
        assert any(name in line.split() for line in lines[first_table:]), name
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert md.splitlines().index("## Summary") < 10
