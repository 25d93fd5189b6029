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


@pytest.fixture
def dump_dom(tmp_path: Path):
    """`dump_dom(page, fragment="")`: the DOM of a local HTML page after its scripts ran, from Debian's
    headless chromium (installed by scripts/install.sh). No browser is a failure, never a skip."""
    import shutil
    import subprocess

    browser = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                    if (found := shutil.which(name))), None)
    if browser is None:
        pytest.fail("no headless browser (chromium) on PATH: run `bash scripts/install.sh` (as root it installs "
                    "Debian's chromium) or `apt-get install --no-install-recommends chromium`")

    def dump(page: Path, fragment: str = "") -> str:
        url = page.as_uri() + (f"#{fragment}" if fragment else "")
        cmd = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and "</html>" in done.stdout, f"{browser} failed: {done.stderr[-2000:]}"
        return done.stdout

    return dump
