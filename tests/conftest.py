"""Shared fixtures: the real data lives outside the project, in ../shared/data (or $RQBENCH_TEST_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("RQBENCH_TEST_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not (DATA_ROOT / "scifact" / "corpus.jsonl").exists():
        pytest.fail(f"test data not found at {DATA_ROOT}; set RQBENCH_TEST_DATA to the shared data folder")
    return DATA_ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
