"""A suite whose data is not on this machine still plans (issue 23: `rqbench plan suites/rocketqa-official.toml`
offline): the stages that need the data are marked pending, the plan says what is missing (the ir_datasets
data, the official models not converted yet), and running it stops with one line, exit 3."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "rocketqa-official.toml"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ir_datasets") is not None,
                                reason="ir_datasets is installed here: its data may be too")


def _cli(*args: str, models: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RQBENCH_MODELS": str(models), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_the_official_suite_plans_offline_and_says_what_is_missing(tmp_path: Path) -> None:
    done = _cli("plan", str(SUITE), "--store", str(tmp_path / "store"), models=tmp_path / "models")
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stdout.splitlines() if line.startswith("note:")]
    assert "note: dataset 'msmarco-passage/dev/small' is not here: ir_datasets is not installed: pip install " \
           "'rqbench[irds]'; hashes marked pending are provisional" in notes
    assert any(n.startswith("note: rocketqa:v2_marco_ce: not converted here") for n in notes)
    rows = json.loads(_cli("plan", str(SUITE), "--json", "--store", str(tmp_path / "store"),
                           models=tmp_path / "models").stdout)
    assert rows and all(r.get("pending") for r in rows)
    # one corpus behind the dev and DL ids: each retriever indexes it once, as with the real data
    assert sorted(r["label"] for r in rows if r["kind"] == "index") == [
        "bm25", "md0", "minilm", "pair", "rocketqa-v1", "rocketqa-v2"]


def test_running_it_without_the_data_is_one_line_and_exit_3(tmp_path: Path) -> None:
    done = _cli("run", str(SUITE), "--store", str(tmp_path / "store"), "--results", str(tmp_path / "res"),
                models=tmp_path / "models")
    assert done.returncode == 3
    line = next(i for i, text in enumerate(SUITE.read_text().splitlines(), 1) if text.startswith("dataset ="))
    assert done.stderr.strip().splitlines() == [
        f"rqbench: error: {SUITE}:{line}: ir_datasets is not installed: pip install 'rqbench[irds]'"]


def test_pending_ids_share_a_corpus_only_within_a_family() -> None:
    from rqbench.data.pending import corpus_family

    assert corpus_family("msmarco-passage/dev/small") == corpus_family("msmarco-passage/trec-dl-2019/judged")
    assert corpus_family("beir/scifact/test") == corpus_family("beir/scifact/train") == "beir/scifact"
    assert corpus_family("beir/scifact/test") != corpus_family("beir/nfcorpus/test")
    assert corpus_family("vaswani") == "vaswani" and corpus_family("antique/test") == "antique"


def test_the_full_msmarco_suite_plans_offline(tmp_path: Path) -> None:
    rows = json.loads(_cli("plan", str(ROOT / "suites" / "msmarco-full.toml"), "--json", "--store",
                           str(tmp_path / "store"), models=tmp_path / "models").stdout)
    assert rows and all(r.get("pending") for r in rows)
    indexes = sorted(r["label"] for r in rows if r["kind"] == "index")
    assert indexes == ["bm25", "md0", "minilm", "minilm-ivfpq"]  # one corpus for dev, DL19 and DL20
