"""The Audits section: denoised hard negatives and pseudo-labels of the variants' own training data, once per
variant and seed whatever the evaluation set, in every renderer and the JSON export; rates checked by hand.
A report without audits has no such section and renders exactly as one whose records carry "audits": {}."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from rqbench.records import SCHEMA
from rqbench.report import build_report, render_html, render_markdown, render_terminal, report_to_json
from rqbench.report.audit_text import PRECISION_FOOTNOTE, UNDENOISED, audit_tables
from rqbench.report.audits import (
    agreement,
    collect_audits,
    coverage,
    drop_rate,
    histogram_text,
    negatives_per_labelled,
    precision,
)
from rqbench.report.format import planned_figures

MEASURES = ["RR@10"]
QIDS = ["q1", "q2", "q3", "q4"]
N_RESAMPLES = 50
HIST_13 = [3000, 100, 50, 40, 30, 20, 20, 20, 30, 200]


def _hist(counts: list[int]) -> dict:
    return {"bins": [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10)], "counts": counts}


def denoise(kept: int, dropped: int, flagged: int, *, filtered: bool = True, short: int = 0, djn: int = 0,
            hist: list[int] | None = None, queries: int = 809) -> dict:
    return {"threshold": 0.1, "denoise": filtered, "queries": queries, "kept": kept, "dropped": dropped,
            "filled": 326, "short": short, "positives_in_scan": 700, "positives_flagged": flagged,
            "dropped_judged_nonrelevant": djn, "probability_histogram": _hist(hist or HIST_13)}


def augment(labelled: int, negatives: int, labels: tuple[int, int] | None, top1: int | None = None) -> dict:
    """An augment audit; `top1` (the retriever's own top-1 judged relevant) only in audits written since it was."""
    out = {"positive_threshold": 0.9, "negative_threshold": 0.1, "queries": 300, "labelled": labelled,
           "dropped": 300 - labelled, "coverage": labelled / 300, "negatives": negatives,
           "negatives_per_query": {"4": labelled}, "probability_histogram": _hist([5] * 10),
           "labelled_groups": 809, "pseudo_labelled_groups": labelled}
    if labels is not None:
        out["labels"] = {"judged_queries": labelled, "true_positives": labels[0], "precision": labels[0] / labelled,
                         "negatives_judged_relevant": labels[1]}
        if top1 is not None:
            out["labels"] |= {"retriever_top1_relevant": top1, "retriever_top1_precision": top1 / labelled}
    return out


DENOISE_13 = denoise(2900, 410, 610)
DENOISE_14 = denoise(3000, 240, 560, short=2, djn=5)
UNDENOISED_AUDIT = denoise(3310, 0, 0, filtered=False, hist=[0] * 10)
AUGMENT_13 = augment(120, 460, (90, 3), top1=96)
AUGMENT_14 = augment(150, 450, (120, 7))
AUGMENT_PLAIN = augment(90, 270, None)


def record(variant: str, day: int, audits: dict | None, *, arm: str | None = None, seed: int = 0,
           evaluation: str = "toyset") -> dict:
    """A record as a suite writes it, with its per-query values inline; no "audits" key when None."""
    values = [0.25 * ((day + i) % 4) for i in range(len(QIDS))]
    rec = {
        "schema": SCHEMA, "record_id": f"{variant}-{evaluation}-{day}", "created": f"2025-03-{day:02d}T10:00:00+00:00",
        "suite": "rocketqa", "variant": variant, "backend": "dense",
        "config": {"baseline": "b", "measures": MEASURES, "split": "test"},
        "evaluation": {"name": evaluation, "dataset": evaluation, "split": "test"},
        "dataset": {"name": evaluation, "split": "test", "n_queries": len(QIDS),
                    "fingerprints": {"corpus": "c" * 64, "queries": evaluation[0] * 64, "qrels": "e" * 64}},
        "measures": {"RR@10": "RR@10: a measure"}, "metrics": {"RR@10": sum(values) / len(values)},
        "n_queries": len(QIDS), "per_query": {"RR@10": dict(zip(QIDS, values, strict=True))},
        "stages": [{"kind": "evaluate", "hash": f"{day:02d}" * 10, "cached": False, "seconds": 0.5}],
        "seed": seed, "env": {"git": {"revision": "0" * 40, "dirty": False}, "seed": seed},
    }
    if audits is not None:
        rec["audits"] = audits
    if arm is not None:
        rec["arm"] = arm
    return rec


def records(*, two_sets: bool = False) -> list[dict]:
    """b (no audits), the arm rq with seeds 13 and 14 (denoise + labelled augment), the undenoised arm (augment
    without labels); with `two_sets` the same again, newer, on a second set, after an older seed-13 record
    there whose audits must not show."""
    first = [
        record("b", 2, {}),
        record("rq[seed=13]", 3, {"denoise": DENOISE_13, "augment": AUGMENT_13}, arm="rq", seed=13),
        record("rq[seed=14]", 4, {"denoise": DENOISE_14, "augment": AUGMENT_14}, arm="rq", seed=14),
        record("undenoised", 5, {"denoise": UNDENOISED_AUDIT, "augment": AUGMENT_PLAIN}),
    ]
    if not two_sets:
        return first
    stale = record("rq[seed=13]", 1, {"denoise": denoise(1, 1, 1, queries=1)}, arm="rq", seed=13, evaluation="other")
    again = [{**rec, "created": rec["created"].replace("-03-", "-04-"), "evaluation": {"name": "other"},
              "dataset": {**rec["dataset"], "name": "other"}} for rec in first]
    return [stale, *first, *again]


@pytest.fixture(scope="module")
def report():
    return build_report(records(), n_resamples=N_RESAMPLES)


def test_rates_by_hand() -> None:
    assert drop_rate(DENOISE_13) == 410 / 3310
    assert agreement(DENOISE_13) == 610 / 700
    assert drop_rate(DENOISE_14) == 240 / 3240
    assert agreement(DENOISE_14) == 0.8
    assert agreement(UNDENOISED_AUDIT) is None  # nothing scored: 0 flagged says nothing about the cross-encoder
    assert coverage(AUGMENT_13) == 0.4
    assert negatives_per_labelled(AUGMENT_13) == 460 / 120
    assert precision(AUGMENT_13) == 0.75
    assert precision(AUGMENT_14) == 0.8
    assert precision(AUGMENT_PLAIN) is None
    assert drop_rate({"kept": 0, "dropped": 0}) is None
    assert histogram_text(DENOISE_13) == "3000/100/50/40/30/20/20/20/30/200"


def test_collected_once_per_variant_and_seed(report) -> None:
    assert list(report.audits) == ["rq", "undenoised"]  # b has {}: no audits
    assert report.audits["rq"] == {"denoise": [(13, DENOISE_13), (14, DENOISE_14)],
                                   "augment": [(13, AUGMENT_13), (14, AUGMENT_14)]}
    assert report.audits["undenoised"] == {"denoise": [(None, UNDENOISED_AUDIT)], "augment": [(None, AUGMENT_PLAIN)]}
    several = build_report(records(two_sets=True), n_resamples=N_RESAMPLES)
    assert len(several.sets) == 2 and all(not s.audits for s in several.sets)
    assert several.audits == report.audits  # the stale seed-13 audits are older than its newest record


def test_seeds_superseding_an_unseeded_record() -> None:
    older = record("rq", 1, {"denoise": denoise(1, 1, 1)})
    seeded = record("rq[seed=13]", 3, {"denoise": DENOISE_13}, arm="rq", seed=13)
    assert collect_audits([older, seeded]) == {"rq": {"denoise": [(13, DENOISE_13)]}}
    newer = record("rq", 4, {"denoise": DENOISE_14})
    assert collect_audits([seeded, newer]) == {"rq": {"denoise": [(None, DENOISE_14)]}}


def test_table_rows(report) -> None:
    denoise_table, augment_table = audit_tables(report)
    assert [row[:2] for row in denoise_table.rows] == [["rq", "13"], ["rq", "14"], ["undenoised", "—"]]
    assert denoise_table.rows[0][2:] == ["0.1", "809", "2900", "410", "326", "0", "12.4%", "87.1% (610/700)", "0",
                                         "3000/100/50/40/30/20/20/20/30/200"]
    assert denoise_table.rows[1][7:11] == ["2", "7.4%", "80.0% (560/700)", "5"]
    assert denoise_table.rows[2][2] == "—" and denoise_table.rows[2][8:11] == [UNDENOISED, "—", "—"]
    assert augment_table.rows[0][2:] == ["0.9 / 0.1", "300", "120 (40.0%)", "3.83", "75.0% (90/120)",
                                         "80.0% (96/120)", "3",
                                         "809 + 120", "5/5/5/5/5/5/5/5/5/5"]
    assert augment_table.rows[1][4:9] == ["150 (50.0%)", "3.00", "80.0% (120/150)", "—", "7"]  # no top-1 recorded
    assert augment_table.rows[2][4:9] == ["90 (30.0%)", "3.00", "—", "—", "—"]
    assert augment_table.footnote == PRECISION_FOOTNOTE
    assert "precision needs labels: audit the labeller on a held-apart labelled split" in PRECISION_FOOTNOTE
    labelled_only = build_report(records()[:3], n_resamples=N_RESAMPLES)
    assert audit_tables(labelled_only)[1].footnote == ""


def test_a_labeller_audit_shows_in_the_pseudo_labels_table_after_the_variants_own_rows() -> None:
    probe = {**augment(40, 150, (31, 2), top1=33), "split": "probe", "labelled_groups": 809,
             "pseudo_labelled_groups": 40}
    recs = [record("b", 2, {}),
            record("rq[seed=13]", 3, {"augment": AUGMENT_PLAIN, "augment_audit": probe}, arm="rq", seed=13)]
    rep = build_report(recs, n_resamples=N_RESAMPLES)
    assert rep.audits["rq"] == {"augment": [(13, AUGMENT_PLAIN)], "augment_audit": [(13, probe)]}
    (table,) = audit_tables(rep)
    assert [row[:2] for row in table.rows] == [["rq", "13"], ["rq: labeller audit on 'probe', not trained on", "13"]]
    assert table.rows[1][4:9] == ["40 (13.3%)", "3.75", "77.5% (31/40)", "82.5% (33/40)", "2"]
    assert table.rows[0][9] == "809 + 90" and table.rows[1][9] == "—"  # the audit's groups train nobody
    assert "labeller audit" in table.key and table.footnote == ""  # the precision is there: no hint to add one
    rates = report_to_json(rep)["audits"]["rq"]["augment_audit"][0]["rates"]
    assert (rates["precision"], rates["retriever_top1_precision"]) == (31 / 40, 33 / 40)


def test_markdown(report) -> None:
    md = render_markdown(report)
    assert md.count("## Audits") == 1 and md.index("## Audits") < md.index("## Legend")
    assert "### Denoised hard negatives" in md and "### Pseudo-labels" in md
    assert "| rq | 13 | 0.1 | 809 | 2900 | 410 | 326 | 0 | 12.4% | 87.1% (610/700) | 0 |" in md
    assert f"| undenoised | — | — | 809 | 3310 | 0 | 326 | 0 | {UNDENOISED} | — | — |" in md
    assert "| rq | 14 | 0.9 / 0.1 | 300 | 150 (50.0%) | 3.00 | 80.0% (120/150) | — | 7 | 809 + 150 |" in md
    assert "drop rate = dropped / (kept + dropped)" in md and "precision needs labels" in md


def test_markdown_with_contrasts_and_several_sets() -> None:
    declared = [{"name": "rq-beats-b", "a": "rq", "b": "b", "expect": "a>b"}]
    several = build_report(records(two_sets=True), n_resamples=N_RESAMPLES, contrasts=declared)
    md = render_markdown(several)
    assert md.index("## Contrasts") < md.index("## Audits") < md.index("## Legend")
    assert md.count("| rq | 13 |") == 2  # once in each table, not once per evaluation set
    html = render_html(several, {f.name: b"png" for f in planned_figures(several)})
    assert html.index('<section id="contrasts">') < html.index('<section id="audits">') < html.index('id="legend"')


def test_html(report) -> None:
    html = render_html(report, {f.name: b"png" for f in planned_figures(report)})
    assert html.count('<section id="audits">') == 1
    assert html.index('<section id="audits">') < html.index('<section id="legend">')
    for text in ("Denoised hard negatives", "87.1% (610/700)", "12.4%", UNDENOISED, "75.0% (90/120)",
                 "3000/100/50/40/30/20/20/20/30/200", "precision needs labels"):
        assert text in html


def test_terminal(report) -> None:
    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=200, force_terminal=False))
    out = buf.getvalue()
    assert "rocketqa: audits." in out and "Denoised hard negatives" in out and "Pseudo-labels" in out
    for text in ("12.4%", "87.1% (610/700)", "no filter", "(undenoised arm)", "75.0% (90/120)", "40.0%",
                 "precision needs labels"):
        assert text in out


def test_json_export(report) -> None:
    data = json.loads(json.dumps(report_to_json(report)))
    audits = data["audits"]
    assert [e["seed"] for e in audits["rq"]["denoise"]] == [13, 14]
    assert audits["rq"]["denoise"][0]["summary"] == DENOISE_13
    assert audits["rq"]["denoise"][0]["rates"] == {"drop_rate": 410 / 3310, "agreement": 610 / 700}
    assert audits["rq"]["augment"][0]["rates"] == {"coverage": 0.4, "negatives_per_labelled_query": 460 / 120,
                                                   "precision": 0.75, "retriever_top1_precision": 0.8}
    assert audits["undenoised"]["augment"][0] == {"seed": None, "summary": AUGMENT_PLAIN, "rates": {
        "coverage": 0.3, "negatives_per_labelled_query": 3.0, "precision": None, "retriever_top1_precision": None}}


def test_no_audits_no_section() -> None:
    bare = [{k: v for k, v in rec.items() if k != "audits"} for rec in records()]
    empty = [{**rec, "audits": {}} for rec in records()]
    plain, emptied = (build_report(recs, n_resamples=N_RESAMPLES) for recs in (bare, empty))
    assert plain.audits == {} and emptied.audits == {} and audit_tables(plain) == []
    assert "audits" not in report_to_json(plain)
    md = render_markdown(plain)
    assert "Audits" not in md and md == render_markdown(emptied)
    pngs = {f.name: b"png" for f in planned_figures(plain)}
    html = render_html(plain, pngs)
    assert 'id="audits"' not in html and html == render_html(emptied, pngs)
    buf = io.StringIO()
    render_terminal(plain, Console(file=buf, width=120, force_terminal=False))
    assert "audits" not in buf.getvalue()
