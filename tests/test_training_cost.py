"""The report's training cost rows (rqbench.report.format.training_rows): one per training, seconds a step from
the loop's last attempt (a resumed run's attempt covers only its own steps), memory growth only where the peak
was reset at the start, a GPU peak where one was recorded."""

from __future__ import annotations

from types import SimpleNamespace

from rqbench.report.format import DASH, training_rows


def report_of(*stages: dict) -> SimpleNamespace:
    section = SimpleNamespace(variants=["v2"], timings={"v2": list(stages)}, label="set")
    return SimpleNamespace(sections=[section], sets=[])


def train_stage(seed: int, **training: object) -> dict:
    figures = {"task": "joint", "nproc": 1, "batch_size": 4, "grad_accumulation": 1, "candidates": 8,
               "steps": 100, **training}
    return {"role": "train", "kind": "train", "hash": f"h{seed}", "seed": seed, "built_seconds": 600.0,
            "training": figures}


def test_a_resumed_run_counts_its_last_attempt_and_growth_needs_a_reset() -> None:
    rows = training_rows(report_of(
        train_stage(13, attempt_first_step=76, elapsed_s=125.0, peak_rss_mib=3000.0, start_rss_mib=1000.0,
                    peak_reset=True),
        train_stage(14, peak_rss_mib=3000.0, start_rss_mib=1000.0, peak_reset=False, cuda_peak_mib=2048.0),
        {"role": "init_from:train", "kind": "train", "hash": "other", "training": {"steps": 5}},  # not its own
        train_stage(13)))  # the same training again (another evaluation set): listed once
    assert [r["seed"] for r in rows] == ["13", "14"]
    resumed, fresh = rows
    assert resumed["per_step"] == "5.00" and resumed["growth"] == "2,000" and resumed["gpu"] == DASH
    assert fresh["per_step"] == "6.00" and fresh["growth"] == DASH and fresh["gpu"] == "2,048"  # 600 s / 100
    assert (fresh["candidates"], fresh["batch"], fresh["steps"]) == ("8", "4", "100")
