"""Multi-seed arms in reports: one row per arm with the mean over its seeds and their sample sd, per-query
values averaged over the seeds (and compared with the baseline on those), in every renderer and export;
numbers checked by hand."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from rqbench.records import SCHEMA, append_record, write_per_query
from rqbench.report import (
    build_report,
    render_html,
    render_markdown,
    render_terminal,
    report_to_csv,
    report_to_json,
    report_to_latex,
)
from rqbench.stats import compare_to_baseline

MEASURES = ["RR@10", "nDCG@10"]
QIDS = ["q1", "q2", "q3", "q4"]
# per-query values by hand: the arm "x" has seeds 1 and 2, "b" (the baseline) and "y" are unseeded
VALUES = {
    "b": {"RR@10": [0.5, 0.5, 0.5, 0.5], "nDCG@10": [0.5, 0.5, 0.5, 0.5]},
    "x[seed=1]": {"RR@10": [1.0, 0.5, 0.0, 0.25], "nDCG@10": [0.8, 0.6, 0.2, 0.4]},  # means 0.4375, 0.5
    "x[seed=2]": {"RR@10": [0.5, 0.5, 1.0, 0.25], "nDCG@10": [0.6, 0.6, 0.6, 0.4]},  # means 0.5625, 0.55
    "y": {"RR@10": [0.0, 0.0, 0.5, 1.0], "nDCG@10": [0.1, 0.2, 0.3, 0.4]},
}
X_MEAN = {"RR@10": 0.5, "nDCG@10": 0.525}
X_SD = {"RR@10": 0.125 / math.sqrt(2), "nDCG@10": 0.05 / math.sqrt(2)}  # sample sd of two values: |a - b| / sqrt 2
X_PER_QUERY = {"RR@10": {"q1": 0.75, "q2": 0.5, "q3": 0.5, "q4": 0.25},
               "nDCG@10": {"q1": 0.7, "q2": 0.6, "q3": 0.4, "q4": 0.4}}
N_RESAMPLES = 300


def record(variant: str, values: dict[str, list[float]], day: int, *, arm: str | None = None, seed: int = 0,
           evaluation: str = "toyset", split: str = "test", qids: list[str] = QIDS) -> dict:
    """A record as a suite writes it, with its per-query values inline (no sidecar)."""
    per_query = {m: dict(zip(qids, xs, strict=True)) for m, xs in values.items()}
    rec = {
        "schema": SCHEMA, "record_id": f"{variant}-{evaluation}-{day}", "created": f"2025-03-{day:02d}T10:00:00+00:00",
        "suite": "seeded", "variant": variant, "backend": "dense",
        "config": {"baseline": "b", "measures": MEASURES, "split": split},
        "evaluation": {"name": evaluation, "dataset": evaluation, "split": split},
        "dataset": {"name": evaluation, "split": split, "n_queries": len(qids),
                    "fingerprints": {"corpus": "c" * 64, "queries": evaluation[0] * 64, "qrels": "e" * 64}},
        "measures": {m: f"{m}: a measure" for m in MEASURES},
        "metrics": {m: sum(xs) / len(xs) for m, xs in values.items()},
        "curves": {"R": {"10": 0.1 * day, "100": 0.2 * day}},
        "n_queries": len(qids), "per_query": per_query,
        "stages": [{"kind": "train", "hash": f"{day:02d}" * 10, "cached": False, "seconds": float(day)},
                   {"kind": "evaluate", "hash": f"{day:02d}ab" * 5, "cached": False, "seconds": 0.5}],
        "seed": seed, "env": {"git": {"revision": "0" * 40, "dirty": False}, "seed": seed},
    }
    if arm is not None:
        rec["arm"] = arm
    return rec


def records() -> list[dict]:
    """b, x seed 1, y, x seed 2 (newest), in the order a suite appends them."""
    return [record("b", VALUES["b"], 1, seed=7), record("x[seed=1]", VALUES["x[seed=1]"], 2, arm="x", seed=1),
            record("y", VALUES["y"], 3, seed=7), record("x[seed=2]", VALUES["x[seed=2]"], 4, arm="x", seed=2)]


@pytest.fixture(scope="module")
def report():
    return build_report(records(), n_resamples=N_RESAMPLES)


def test_an_arm_replaces_its_seeds_in_the_place_of_the_first(report) -> None:
    assert report.variants == ["b", "x", "y"] and report.baseline == "b"
    assert set(report.seeds) == {"x"}
    info = report.seeds["x"]
    assert info["seeds"] == [1, 2]
    assert info["per_seed"] == {1: {"RR@10": 0.4375, "nDCG@10": pytest.approx(0.5)},
                                2: {"RR@10": 0.5625, "nDCG@10": pytest.approx(0.55)}}
    for m in MEASURES:
        assert report.metrics["x"][m] == pytest.approx(X_MEAN[m])
        assert info["sd"][m] == pytest.approx(X_SD[m])
        assert report.per_query["x"][m] == pytest.approx(X_PER_QUERY[m])
        assert report.metrics["y"][m] == pytest.approx(sum(VALUES["y"][m]) / 4)  # unseeded: untouched
    assert report.notes == []


def test_comparisons_use_the_seed_averaged_per_query_values(report) -> None:
    for m in MEASURES:
        expected = compare_to_baseline({"b": dict(zip(QIDS, VALUES["b"][m], strict=True)), "x": X_PER_QUERY[m],
                                        "y": dict(zip(QIDS, VALUES["y"][m], strict=True))}, "b", m,
                                       n_resamples=N_RESAMPLES, seed=0, alpha=0.05)
        assert report.comparisons[m] == expected
    c = report.comparisons["RR@10"]["x"]
    assert c.diff == pytest.approx(0.0) and (c.wins, c.ties, c.losses) == (1, 2, 1)  # 0.75, .5, .5, .25 vs .5


def test_the_arm_keeps_the_newest_seed_record_and_every_seeds_stages(report) -> None:
    assert report.meta["record_ids"]["x"] == "x[seed=2]-toyset-4"
    assert report.meta["env"]["x"]["seed"] == "1, 2"
    assert report.curves["x"] == {"R": {"10": pytest.approx(0.3), "100": pytest.approx(0.6)}}  # mean of day 2, 4
    stages = report.timings["x"]
    assert [(st["kind"], st["seed"], st["seconds"]) for st in stages] == [
        ("train", 1, 2.0), ("evaluate", 1, 0.5), ("train", 2, 4.0), ("evaluate", 2, 0.5)]
    md = render_markdown(report)
    assert "| x | train (seed 1) |" in md and "|  | train (seed 2) |" in md


def test_renderers_show_mean_and_sd_of_seeded_arms_only(report) -> None:
    x_rr = "0.5000 ± 0.0884"
    legend = "± is the standard deviation over 2 seeds; significance uses per-query scores averaged over seeds"
    md = render_markdown(report)
    assert f"| x | {x_rr} | 0.5250 ± 0.0354 |" in md and legend in md
    assert "| y | 0.3750 | 0.2500 |" in md  # no ± for an unseeded variant
    assert f"| x | {x_rr} | +0.0000 |" in md  # the comparison table too
    console = Console(record=True, width=200, color_system=None, file=io.StringIO())
    render_terminal(report, console)
    terminal = console.export_text()
    assert x_rr in terminal and legend in terminal and "0.3750 ±" not in terminal
    page = render_html(report, {})
    assert f"{x_rr}&nbsp;" in page and legend in page
    assert r"x & \textbf{0.5000} $\pm$ 0.0884 & \textbf{0.5250} $\pm$ 0.0354" in report_to_latex(report)


def test_json_and_csv_carry_the_seeds(report) -> None:
    data = report_to_json(report)
    json.dumps(data, allow_nan=False)
    b, x, y = data["sets"][0]["variants"]
    assert set(b) == set(y) == {"name", "metrics"}  # unseeded entries keep their shape
    assert x["n_seeds"] == 2 and x["seeds"] == [1, 2]
    assert x["per_seed"] == {"1": {"RR@10": 0.4375, "nDCG@10": pytest.approx(0.5)},
                             "2": {"RR@10": 0.5625, "nDCG@10": pytest.approx(0.55)}}
    assert x["sd"] == pytest.approx(X_SD) and x["metrics"] == pytest.approx(X_MEAN)
    assert "contrasts" not in data
    rows = list(csv.DictReader(io.StringIO(report_to_csv(report))))
    assert list(rows[0])[-2:] == ["sd", "n_seeds"]
    by_key = {(r["a"], r["measure"]): r for r in rows}
    assert float(by_key[("x", "RR@10")]["sd"]) == pytest.approx(X_SD["RR@10"])
    assert by_key[("x", "RR@10")]["n_seeds"] == "2" and by_key[("x", "RR@10")]["b"] == "b"
    assert by_key[("y", "RR@10")]["sd"] == "" and by_key[("y", "RR@10")]["n_seeds"] == ""


def test_a_query_missing_in_one_seed_counts_zero_there_with_a_note() -> None:
    recs = records()
    recs[3] = record("x[seed=2]", {m: xs[:3] for m, xs in VALUES["x[seed=2]"].items()}, 4, arm="x", seed=2,
                     qids=QIDS[:3])
    report = build_report(recs, n_resamples=50)
    assert report.per_query["x"]["RR@10"] == pytest.approx({"q1": 0.75, "q2": 0.5, "q3": 0.5, "q4": 0.125})
    assert any("arm 'x', RR@10: the seeds have per-query values for different queries" in n
               and "counts as 0" in n for n in report.notes)


def test_one_seed_has_sd_zero_and_an_older_unseeded_record_is_superseded() -> None:
    recs = [record("x", VALUES["y"], 1, seed=7), *records()[:3]]  # x before seeds existed, then x seed 1 only
    report = build_report(recs, n_resamples=50)
    assert report.variants == ["x", "b", "y"] and report.seeds["x"]["seeds"] == [1]
    assert report.seeds["x"]["sd"] == {"RR@10": 0.0, "nDCG@10": 0.0}
    assert report.metrics["x"]["RR@10"] == 0.4375  # the seed's value, not the unseeded record's 0.375
    assert any("older unseeded record of 'x' is superseded" in n for n in report.notes)
    assert "0.4375 ± 0.0000" in render_markdown(report)


def test_several_evaluation_sets_average_per_set() -> None:
    other = {v: {m: list(reversed(xs)) for m, xs in by_m.items()} for v, by_m in VALUES.items()}
    recs = records() + [record(v, other[v], 10 + i, evaluation="other", split="dev",
                               arm="x" if v.startswith("x[") else None, seed=int(v[-2]) if v.startswith("x[") else 7)
                        for i, v in enumerate(VALUES)]
    report = build_report(recs, n_resamples=50)
    assert report.seeds == {} and report.seeded and [s.label for s in report.sets] == ["toyset (test)", "other (dev)"]
    for s in report.sets:
        assert s.variants == ["b", "x", "y"] and s.seeds["x"]["seeds"] == [1, 2]
        assert s.metrics["x"] == pytest.approx(X_MEAN)
    assert report.sets[1].per_query["x"]["RR@10"] == pytest.approx(
        {"q4": 0.75, "q3": 0.5, "q2": 0.5, "q1": 0.25})  # reversed values: this set's own seeds
    assert "| x, other (dev) | train (seed 1) |" in render_markdown(report)


def test_reports_without_seeds_have_no_seed_output() -> None:
    recs = [r for r in records() if "arm" not in r]
    report = build_report(recs, n_resamples=50)
    assert report.seeds == {} and not report.seeded
    md = render_markdown(report)
    assert "±" not in md and "(seed " not in md
    console = Console(record=True, width=200, color_system=None, file=io.StringIO())
    render_terminal(report, console)
    assert "±" not in console.export_text()


def test_report_cli_averages_seed_sidecars(tmp_path: Path) -> None:
    """Records on disk (per-query values in sidecar files, as a suite writes them) through `rqbench report`."""
    root = tmp_path / "results"
    path = None
    for i, rec in enumerate(records()):
        per_query = rec.pop("per_query")
        rec["per_query_file"] = write_per_query(root, rec["suite"], rec["variant"], f"{i:064x}", per_query)
        rec["suite_contrasts"] = [{"name": "x-vs-y", "a": "x", "b": "y", "expect": "a>b", "claim": "x beats y",
                                   "measures": None, "evaluations": None}]
        path = append_record(root, rec)
    assert path is not None
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", "report", str(path), "--json"], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "100"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    x = next(v for v in data["sets"][0]["variants"] if v["name"] == "x")
    assert x["metrics"] == pytest.approx(X_MEAN) and x["sd"] == pytest.approx(X_SD) and x["n_seeds"] == 2
    (contrast,) = data["contrasts"]
    # x vs y on RR@10 (the first measure): per query (.75, .5, .5, .25) - (0, 0, .5, 1)
    assert contrast["diff"] == pytest.approx(0.125) and contrast["n_seeds_a"] == 2 and contrast["n_seeds_b"] == 1
    assert contrast["measure"] == "RR@10" and contrast["verdict"] == "not significant"
