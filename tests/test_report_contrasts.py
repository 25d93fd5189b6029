"""Declared contrasts in reports: each contrast x evaluation set x measure tested paired by query on the
seed-averaged per-query values, one family-wise correction over all of them, a verdict per test (holds,
contradicted, not significant, not run) and a Contrasts section in every renderer and the JSON export."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from rqbench.records import SCHEMA
from rqbench.report import build_report, render_html, render_markdown, render_terminal, report_to_json
from rqbench.stats import bonferroni, holm, paired_compare

MEASURES = ["RR@10", "nDCG@10"]
N = 40
QIDS = [f"q{i:02d}" for i in range(N)]
N_RESAMPLES = 2000
BASE = np.linspace(0.3, 0.7, N)  # the baseline's value on every query and measure
ALTERNATE = np.tile([0.1, -0.1], N // 2)
# arm -> seed -> what is added to BASE: "good" beats the baseline by 0.2 on every query (0.1 / 0.3 by seed),
# "bad" loses 0.2 everywhere, "noise" moves each query by +-0.1 (mean difference exactly 0)
SHIFTS = {"good": {1: 0.1, 2: 0.3}, "bad": {1: -0.3, 2: -0.1}, "noise": {1: ALTERNATE, 2: ALTERNATE}}
CONTRASTS = [
    {"name": "good-beats-base", "a": "good", "b": "base", "expect": "a>b", "claim": "good beats the baseline",
     "measures": None, "evaluations": None},
    {"name": "bad-beats-base", "a": "bad", "b": "base", "expect": "a>b", "claim": "bad beats the baseline",
     "measures": None, "evaluations": None},
    {"name": "noise-beats-base", "a": "noise", "b": "base", "expect": "a>b", "claim": "noise beats the baseline",
     "measures": None, "evaluations": None},
    {"name": "bad-below-base", "a": "bad", "b": "base", "expect": "a<b", "claim": "bad is below the baseline",
     "measures": ["nDCG@10", "RR@10"], "evaluations": None},
    {"name": "ghost", "a": "ghost", "b": "base", "expect": "a>b", "claim": "a ghost beats the baseline",
     "measures": None, "evaluations": None},
    {"name": "broken", "a": 3, "b": "base"},
]


def _record(variant: str, values: np.ndarray, day: int, *, arm: str | None = None, seed: int = 0,
            evaluation: str = "toyset", split: str = "test") -> dict:
    per_query = {m: {q: float(x) for q, x in zip(QIDS, values, strict=True)} for m in MEASURES}
    rec = {
        "schema": SCHEMA, "record_id": f"{variant}-{evaluation}", "created": f"2025-04-{day:02d}T08:00:00+00:00",
        "suite": "claims", "variant": variant, "backend": "dense",
        "config": {"baseline": "base", "measures": MEASURES, "split": split},
        "evaluation": {"name": evaluation, "dataset": evaluation, "split": split},
        "dataset": {"name": evaluation, "split": split, "n_queries": N,
                    "fingerprints": {"corpus": "c" * 64, "queries": evaluation[0] * 64, "qrels": "e" * 64}},
        "metrics": {m: float(np.mean(values)) for m in MEASURES}, "n_queries": N, "per_query": per_query,
        "seed": seed, "suite_contrasts": CONTRASTS, "suite_notes": [],
    }
    if arm is not None:
        rec["arm"] = arm
    return rec


def records(evaluation: str = "toyset", split: str = "test", day: int = 1) -> list[dict]:
    out = [_record("base", BASE, day, seed=0, evaluation=evaluation, split=split)]
    for arm, by_seed in SHIFTS.items():
        out += [_record(f"{arm}[seed={s}]", BASE + shift, day, arm=arm, seed=s, evaluation=evaluation, split=split)
                for s, shift in by_seed.items()]
    return out


def _values(shift: float | np.ndarray) -> dict[str, float]:
    return {q: float(x) for q, x in zip(QIDS, BASE + shift, strict=True)}


@pytest.fixture(scope="module")
def report():
    return build_report(records(), n_resamples=N_RESAMPLES)


def test_verdicts(report) -> None:
    got = [(r.name, r.measure, r.verdict) for r in report.contrasts]
    assert got == [("good-beats-base", "RR@10", "holds"), ("bad-beats-base", "RR@10", "contradicted"),
                   ("noise-beats-base", "RR@10", "not significant"), ("bad-below-base", "nDCG@10", "holds"),
                   ("bad-below-base", "RR@10", "holds"), ("ghost", None, "not run")]
    ghost = report.contrasts[-1]
    assert ghost.comparison is None and ghost.p_corrected is None and ghost.reason == "no record of 'ghost'"
    assert "contrast 'broken' is skipped: 'a' must be a non-empty string" in report.notes
    good = report.contrasts[0]
    assert (good.n_seeds_a, good.n_seeds_b) == (2, 1) and good.label == "toyset (test)"
    assert good.evaluation == "toyset"


def test_statistics_are_paired_compare_on_seed_averaged_values(report) -> None:
    expected = {"good": 0.2, "bad": -0.2, "noise": 0.0}
    for r in report.contrasts[:3]:
        a = {"good": _values(0.2), "bad": _values(-0.2), "noise": _values(ALTERNATE)}[r.a]
        raw = paired_compare(a, _values(0.0), r.measure, n_resamples=N_RESAMPLES, seed=0, alpha=0.05)
        c = r.comparison
        assert c.diff == pytest.approx(expected[r.a], abs=1e-12)
        for field in ("n", "diff", "ci_low", "ci_high", "rand_p", "t_p", "wins", "ties", "losses", "mean_a"):
            assert getattr(c, field) == pytest.approx(getattr(raw, field), abs=1e-12), field
    assert report.contrasts[0].comparison.wins == N and report.contrasts[1].comparison.losses == N
    assert report.contrasts[2].comparison.rand_p == 1.0  # a mean difference of exactly 0


def test_holm_over_every_contrast_test_together(report) -> None:
    ran = [r for r in report.contrasts if r.ran]
    assert len(ran) == 5
    raw = [r.comparison.rand_p for r in ran]
    assert [r.p_corrected for r in ran] == pytest.approx(holm(raw))
    assert [r.comparison.p_value() for r in ran] == pytest.approx(holm(raw))
    # the family is all five tests: Holm over fewer would give the smallest p-value a smaller factor
    smallest = min(raw)
    assert min(r.p_corrected for r in ran) == pytest.approx(min(1.0, 5 * smallest))
    bonf = build_report(records(), n_resamples=N_RESAMPLES, correction="bonferroni")
    assert [r.p_corrected for r in bonf.contrasts if r.ran] == pytest.approx(bonferroni(raw))


def test_contrasts_argument_overrides_the_records_and_evaluations_select_sets() -> None:
    recs = records() + records("other", "dev", day=2)
    declared = [{"name": "good-on-other", "a": "good", "b": "base", "expect": "a>b", "claim": "good wins on other",
                 "measures": ["nDCG@10", "RR@10"], "evaluations": ["other", "missing"]},
                {"name": "everywhere", "a": "noise", "b": "good", "expect": "a<b", "claim": "",
                 "measures": None, "evaluations": None}]
    report = build_report(recs, n_resamples=500, contrasts=declared)
    got = [(r.name, r.label, r.measure, r.verdict) for r in report.contrasts]
    assert got == [("good-on-other", "other (dev)", "nDCG@10", "holds"),  # in the order the contrast lists them
                   ("good-on-other", "other (dev)", "RR@10", "holds"),
                   ("good-on-other", "missing", None, "not run"),
                   ("everywhere", "toyset (test)", "RR@10", "holds"),
                   ("everywhere", "other (dev)", "RR@10", "holds")]
    assert report.contrasts[2].reason == "no records on evaluation set 'missing'"
    assert all(s.contrasts == [] for s in report.sets)  # on the report, once
    assert build_report(recs, n_resamples=50, contrasts=[]).contrasts == []


def test_renderers_show_the_contrasts_section(report) -> None:
    md = render_markdown(report)
    assert md.index("## Contrasts") < md.index("## Legend")
    assert ("| good-beats-base | toyset (test) | RR@10 | A > B | good (0.7000 ± 0.1414) | base (0.5000) | +0.2000 | "
            "[+0.2000, +0.2000] | 1: +0.1000, 2: +0.3000 | 0.0005 | 0.0025 | **holds** |") in md  # seeds' own A - B
    assert r"- good beats the baseline: holds on RR@10 (A - B = +0.2000, 95% CI \[+0.2000, +0.2000\]" in md
    assert "- bad beats the baseline: contradicted on RR@10: the difference goes the other way" in md
    assert "- noise beats the baseline: not shown at this scale on RR@10 (A - B = +0.0000" in md
    assert "- a ghost beats the baseline: not run (no record of 'ghost')." in md
    assert "- bad is below the baseline: holds on nDCG@10 (" in md and "; holds on RR@10 (" in md
    assert "Contrasts: the suite's declared claims" in md and "Holm-adjusted across all 5 contrast test(s)" in md
    console = Console(record=True, width=220, color_system=None, file=io.StringIO())
    render_terminal(report, console)
    terminal = console.export_text()
    assert "claims: declared contrasts" in terminal and "contradicted" in terminal and "not run" in terminal
    assert "good beats the baseline: holds on RR@10" in terminal
    page = render_html(report, {})
    assert page.index('<section id="contrasts">') < page.index('<section id="legend">')
    assert "good beats the baseline: holds on RR@10" in page and page.count("<td class=\"name up\">holds</td>") == 3


def test_json_lists_every_test(report) -> None:
    data = report_to_json(report)
    rows = data["contrasts"]
    assert [(r["name"], r["verdict"]) for r in rows] == [(r.name, r.verdict) for r in report.contrasts]
    good = rows[0]
    assert good["diff"] == pytest.approx(0.2) and good["p_corrected"] == report.contrasts[0].p_corrected
    assert (good["dataset"], good["split"], good["evaluation"]) == ("toyset", "test", "toyset")
    assert (good["n_seeds_a"], good["n_seeds_b"], good["wins"]) == (2, 1, N)
    assert rows[-1]["diff"] is None and rows[-1]["reason"] == "no record of 'ghost'"


def test_reports_without_contrasts_render_as_before() -> None:
    recs = [{k: v for k, v in r.items() if k != "suite_contrasts"} for r in records()]
    report = build_report(recs, n_resamples=50)
    assert report.contrasts == [] and "contrasts" not in report_to_json(report)
    md = render_markdown(report)
    assert "Contrasts" not in md and 'id="contrasts"' not in render_html(report, {})
    assert render_markdown(build_report(records(), n_resamples=50, contrasts=[])) == md  # none declared: no trace


def test_an_equivalence_claim_holds_only_when_the_ci_lies_within_the_margin() -> None:
    from rqbench.report.contrasts import ContrastResult, _verdict
    from rqbench.stats import paired_compare

    base = ContrastResult(name="eq", claim="", a="x", b="y", expect="a=b", evaluation="", label="", measure="m",
                          comparison=None, p_corrected=None, verdict="not run", margin=0.05)
    qids = [f"q{i}" for i in range(60)]
    y = {q: (i % 7) / 7 for i, q in enumerate(qids)}
    near = {q: v + (0.01 if i % 2 else -0.01) for i, (q, v) in enumerate(y.items())}  # mean diff 0, tiny spread
    far = {q: v + 0.2 for q, v in y.items()}  # a clear difference beyond the margin
    noisy = {q: v + (0.5 if i % 3 == 0 else -0.3) for i, (q, v) in enumerate(y.items())}
    for values, want in ((near, "holds"), (far, "contradicted"), (noisy, "inconclusive")):
        c = paired_compare(values, y, "m", n_resamples=2000, seed=1)
        assert _verdict(base, c, c.rand_p, 0.05) == want, (want, c.ci_low, c.ci_high, c.rand_p)
