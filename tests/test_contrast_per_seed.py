"""A seed-averaged contrast shows its per-seed differences beside it (the test does not see the spread over
seeds; the reader must): each seed's A - B from the seeds' own records, in the Markdown table and sentence, the
HTML and the JSON, and against an unseeded side each seed's value minus that side's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rqbench.records import read_records
from rqbench.report import build_report, render_html, render_markdown, report_to_json
from rqbench.report.contrast_text import contrast_rows, per_seed_diffs


@pytest.fixture(scope="module")
def records(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The committed RocketQA SciFact records of md1, md1-undenoised (3 seeds each) and the unseeded BM25, with
    two contrasts: seeded against seeded and seeded against unseeded."""
    source = repo_root / "reports" / "rocketqa-scifact" / "records"
    folder = tmp_path_factory.mktemp("records")
    (folder / "perquery").mkdir()
    kept = []
    for line in (source / "records.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("arm") in ("md1", "md1-undenoised") or record["variant"] == "bm25":
            record["suite_contrasts"] = [
                {"name": "denoising", "a": "md1", "b": "md1-undenoised", "measures": ["nDCG@10"]},
                {"name": "vs-bm25", "a": "md1", "b": "bm25", "measures": ["nDCG@10"]}]
            kept.append(json.dumps(record))
            (folder / record["per_query_file"]).write_bytes((source / record["per_query_file"]).read_bytes())
    assert len(kept) == 8  # BM25 was recorded twice: a report takes the newest
    (folder / "records.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return read_records(folder / "records.jsonl")


def test_per_seed_differences_are_each_seeds_own(records: list[dict]) -> None:
    report = build_report(records, n_resamples=200)
    by_seed = {(r["arm"], r["seed"]): r["metrics"]["nDCG@10"] for r in records if r.get("arm")}
    bm25 = [r["metrics"]["nDCG@10"] for r in records if r["variant"] == "bm25"][-1]
    denoising, versus = report.contrasts
    want = [(str(s), by_seed[("md1", s)] - by_seed[("md1-undenoised", s)]) for s in (13, 14, 15)]
    assert dict(per_seed_diffs(report, denoising)) == pytest.approx(dict(want))
    against_bm25 = {str(s): by_seed[("md1", s)] - bm25 for s in (13, 14, 15)}
    assert dict(per_seed_diffs(report, versus)) == pytest.approx(against_bm25)
    assert [s for s, _ in per_seed_diffs(report, denoising)] == ["13", "14", "15"]
    # their mean is the seed-averaged difference the test reports (per-query means average linearly)
    assert sum(d for _, d in want) / 3 == pytest.approx(denoising.comparison.diff, abs=1e-12)

    row = contrast_rows(report)[0]
    assert row["by_seed"] == ", ".join(f"{s}: {d:+.4f}" for s, d in want)
    markdown = render_markdown(report)
    assert "| A - B by seed |" in markdown and row["by_seed"] in markdown
    assert f"by seed {row['by_seed']}" in markdown  # in the contrast's sentence too
    assert "A - B by seed" in render_html(report) and row["by_seed"] in render_html(report)
    exported = report_to_json(report)
    (first, _) = exported["contrasts"]
    assert first["diff_by_seed"] == pytest.approx(dict(want))


def test_no_seed_column_without_seeded_arms(records: list[dict]) -> None:
    unseeded = [dict(r, suite_contrasts=[{"name": "c", "a": "bm25", "b": "md1", "measures": ["nDCG@10"]}])
                for r in records if not r.get("arm") or r["seed"] == 13]
    for r in unseeded:
        r.pop("arm", None)
    report = build_report(unseeded, n_resamples=200)
    assert [row["by_seed"] for row in contrast_rows(report)] == [""]
    assert "A - B by seed" not in render_markdown(report)
