"""Reproducible, quiet installs: requirements.lock pins everything scripts/install.sh installs and is used by
default (RQBENCH_UNLOCKED=1 installs with pyproject.toml's ranges); the versions hashed into artifacts are
the committed records'; the install reports no pip conflict for the pyserini requirements it leaves out on
purpose; records say how the environment differs from the lock. No test installs anything (a fresh
install takes minutes): the script's plan is read with --dry-run and its final check run with --check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

from rqbench.env import canonical_name, environment, lock_drift, read_lock

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
HASHED = ("torch", "transformers", "faiss-cpu", "pyserini")  # versions in backends' describe(): in the hashes
OMITTED = {"cython", "datasets", "fastapi", "fastmcp", "flask", "sentencepiece", "uvicorn"}  # by --no-deps


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def install_sh(*args: str, root: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VIRTUAL_ENV": sys.prefix, **env}
    return subprocess.run(["bash", str(root / "scripts" / "install.sh"), *args], capture_output=True, text=True,
                          env=full, timeout=60)


def test_lock_pins_every_direct_dependency_exactly_within_its_range() -> None:
    pins = read_lock(LOCK)
    assert pins["torch"] == "2.13.0" and pins["pyserini"] == "1.6.0"
    for req in direct_requirements():
        name = canonical_name(req.name)
        assert name in pins, f"{req} is not pinned in requirements.lock"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), f"{name}=={pins[name]} outside {req}"
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            assert line.count("==") == 1 and "+" not in line and " " not in line, f"not an exact pin: {line!r}"


def test_lock_pins_the_versions_hashed_into_the_committed_records() -> None:
    pins = read_lock(LOCK)
    seen = 0
    for records in sorted(ROOT.glob("reports/*/records/records.jsonl")):
        for line in records.read_text(encoding="utf-8").splitlines():
            packages = json.loads(line).get("env", {}).get("packages") or {}
            for name in HASHED:
                if packages.get(name):
                    seen += 1
                    assert packages[name].split("+")[0] == pins[name], (records, name, packages[name])
    assert seen, "no committed record carries package versions"


def test_lock_is_closed_and_consistent_where_installed_at_its_versions() -> None:
    """Every requirement of a locked package (as installed at the locked version) is locked too, within
    range: a `-c` lock that missed one would let that one float. pyserini's omitted ones aside."""
    pins = read_lock(LOCK)
    checked = 0
    for name, pinned in pins.items():
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        if dist.version.split("+")[0] != pinned:
            continue  # this environment drifted from the lock: its metadata says nothing about the pin
        checked += 1
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**default_environment(), "extra": ""}):
                continue
            dep = canonical_name(req.name)
            if name == "pyserini" and dep in OMITTED:
                continue
            assert dep in pins, f"{name}=={pinned} requires {req}, which requirements.lock does not pin"
            assert req.specifier.contains(Version(pins[dep]), prereleases=True), (name, str(req), pins[dep])
    assert checked > len(pins) // 2, "the environment is too far from the lock to check it"


def plan(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line.startswith("+ ") and " pip install " in line]


def test_install_uses_the_lock_by_default_and_ranges_on_request() -> None:
    locked = plan(install_sh("--dry-run"))
    assert [cmd.split()[-1] for cmd in locked] == ["torch==2.13.0", "pyserini==1.6.0", ".[dev]",
                                                   "paddlepaddle==3.3.1", ".[executors]"]
    assert "--no-deps" in locked[1].split()
    for cmd in locked:
        assert "-c requirements.lock" in cmd, cmd
        assert "--no-warn-conflicts" in cmd.split(), cmd  # pip's ERROR block about pyserini's omitted deps
    ranged = install_sh("--dry-run", RQBENCH_UNLOCKED="1")
    assert "ranges of pyproject.toml" in ranged.stdout
    unlocked = plan(ranged)
    assert len(unlocked) == 5 and not any("requirements.lock" in cmd for cmd in unlocked)


def copy_scripts(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    for rel in ("scripts/install.sh", "pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def stamp(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return next(line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("rqbench: install stamp"))


def test_install_stamp_covers_the_lock_and_a_missing_lock_is_one_line(tmp_path: Path) -> None:
    root = copy_scripts(tmp_path)
    before = stamp(install_sh("--dry-run", root=root))
    with open(root / "requirements.lock", "a", encoding="utf-8") as fh:
        fh.write("tqdm==0.0.1\n")
    assert stamp(install_sh("--dry-run", root=root)) != before
    (root / "requirements.lock").unlink()
    missing = install_sh("--dry-run", root=root)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "requirements.lock: file not found" in missing.stderr and "RQBENCH_UNLOCKED" in missing.stderr
    assert install_sh("--dry-run", root=root, RQBENCH_UNLOCKED="1").returncode == 0


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="needs the virtualenv install.sh installed into")
def test_install_check_passes_what_pip_flags_for_the_omitted_pyserini_requirements() -> None:
    def installed(name: str) -> bool:
        try:
            return bool(distribution(name))
        except PackageNotFoundError:
            return False

    wanted = [Requirement(r) for r in distribution("pyserini").requires or []]
    missing = {canonical_name(r.name) for r in wanted if not (r.marker and "extra" in str(r.marker))
               and not installed(r.name)}
    assert missing == OMITTED  # what pip check (and pip's ERROR block after an install) reports
    checked = install_sh("--check")
    assert checked.returncode == 0, checked.stderr
    assert "ERROR" not in checked.stdout + checked.stderr and not checked.stderr
    assert "pip check: no broken requirements" in checked.stdout


def test_records_say_how_the_environment_differs_from_the_lock(tmp_path: Path) -> None:
    torch = distribution("torch").version  # 2.13.0+cpu: the local label is no difference
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"# comment\nTorch=={torch.split('+')[0]}\nscipy==0.1.0\nno_such_package==1.0\n")
    drift = lock_drift(lock)
    assert drift == {"scipy": {"lock": "0.1.0", "installed": distribution("scipy").version},
                     "no-such-package": {"lock": "1.0", "installed": None}}
    assert lock_drift(tmp_path / "absent.lock") is None
    assert environment()["lock_drift"] == lock_drift()


def test_run_says_in_one_line_when_the_installed_versions_drift_from_the_lock(tmp_path: Path,
                                                                             data_root: Path) -> None:
    """A record carried lock_drift, but `rqbench run` said nothing: a user on transformers 5.25 rebuilt every
    dense artifact without being told why. The note names the first packages and the count."""
    from rqbench.env import drift_note

    lock = tmp_path / "requirements.lock"
    lock.write_text("scipy==0.1.0\nnumpy==0.2.0\nno_such_package==1.0\nother_missing==2.0\n")
    note = drift_note(lock_drift(lock))
    assert note is not None and "\n" not in note
    assert note.startswith("4 installed package(s) differ from requirements.lock: ")
    assert "no-such-package missing (lock 1.0)" in note and " and 1 more;" in note
    assert drift_note({}) is None and drift_note(None) is None  # the lock's own versions, or no lock: quiet

    # through `rqbench run` (the lock swapped for the drifted one; a run-file suite, no JVM or model)
    suite = tmp_path / "s.toml"
    suite.write_text('[suite]\nname = "s"\ndataset = "msmarco-dl19-mini"\nmeasures = ["RR@10"]\n\n'
                     '[[variants]]\nname = "top50"\nbackend = "trec-run"\n'
                     f'params = {{ path = "{data_root / "msmarco-dl19-mini" / "bm25.top50.trec"}" }}\n')
    swap = ("import sys; from pathlib import Path; import rqbench.env as env; real = env.lock_drift; "
            "lock = Path(sys.argv.pop(1)); env.lock_drift = lambda path=None: real(lock); "
            "from rqbench.cli import main; sys.argv[0] = 'rqbench'; main()")
    done = subprocess.run([sys.executable, "-c", swap, str(lock), "run", str(suite), "--data-root", str(data_root)],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "COLUMNS": "400"},
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"note: {note}" in done.stdout
