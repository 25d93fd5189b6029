"""The store is verified, never silently reused when damaged (issue 7, items 2 and 7): fault injection on a
suite of external runs (the pure-Python import backend: no JVM, no torch), `rqbench store verify` and
`rqbench store gc`, and a fully cached read-only store. Real files throughout, no mocks."""

from __future__ import annotations

import json
import os
import shutil
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rqbench.artifacts import ArtifactStore, stable_hash
from rqbench.errors import EnvironmentFault, RqbenchError
from rqbench.io import file_lock
from rqbench.runner import run_suite
from rqbench.suite import load_suite

SUITE = """
[suite]
name = "faults"
dataset = "msmarco-dl19-mini"
split = "test"
measures = {measures}
baseline = "top50"
depth = 100

[[variants]]
name = "top50"
backend = "trec-run"
params = {{ path = "{data}/msmarco-dl19-mini/bm25.top50.trec" }}

[[variants]]
name = "published-bm25"
backend = "trec-run"
params = {{ path = "{data}/msmarco-dl19/runs/bm25.dl19.trec" }}
"""
MEASURES = '["RR@10", "nDCG@10"]'


def write_suite(tmp_path: Path, data_root: Path, measures: str = MEASURES, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(SUITE.format(data=data_root, measures=measures)))
    return path


def run(suite: Path, store: Path, results: Path, data_root: Path, verify: bool = False
        ) -> tuple[list[dict[str, Any]], list[str]]:
    """Run the suite in-process; (records, the damage lines the store reported)."""
    lines: list[str] = []
    records = run_suite(load_suite(suite), store=ArtifactStore(store, verify=verify, on_damage=lines.append),
                        results_root=results, data_root=data_root, console=Console(stderr=True, quiet=True))
    return records, lines


def outcome(records: list[dict[str, Any]], results: Path) -> dict[str, Any]:
    """What a user gets from a run: per variant the metrics, curves, per-query values and the copied run."""
    base = results / "faults"
    return {r["variant"]: {"metrics": r["metrics"], "curves": r["curves"],
                           "per_query": json.loads((base / r["per_query_file"]).read_text()),
                           "run": (base / r["run_file"]).read_text()} for r in records}


def artifact_files(store: Path) -> list[tuple[str, str, str]]:
    """(kind, hash, file) of every file of every artifact folder (but its manifest)."""
    found = []
    for manifest in sorted(store.glob("*/*/*/manifest.json")):
        data = json.loads(manifest.read_text())
        found += [(data["kind"], data["hash"], p.relative_to(manifest.parent).as_posix())
                  for p in sorted(manifest.parent.rglob("*")) if p.is_file() and p != manifest]
    return found


def damage(path: Path, how: str, mtime_ns: int) -> None:
    if how == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "flip":  # same size, and the recorded mtime put back: only a digest can tell
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        os.utime(path, ns=(path.stat().st_atime_ns, mtime_ns))  # as recorded when the artifact was built
    else:
        path.unlink()


@pytest.mark.parametrize("how", ["truncate", "flip", "delete"])
def test_fault_injection_every_damage_is_detected_and_rebuilt(tmp_path: Path, data_root: Path, how: str) -> None:
    """Each artifact file of a finished suite (run.trec of the imports, metrics.json of the evaluations) is
    damaged in turn; the rerun reports the damage in one line, sets the artifact aside, rebuilds it, and
    reproduces the clean metrics, per-query values and run files exactly. Fails on the code before issue 7:
    a damaged artifact was reused (a flipped or truncated run copied into results/, damaged metrics read
    back, a deleted file a crash) and nothing was reported."""
    suite, store, results = write_suite(tmp_path, data_root), tmp_path / "store", tmp_path / "results"
    clean_records, lines = run(suite, store, results, data_root)
    clean = outcome(clean_records, results)
    files = artifact_files(store)
    assert {(kind, rel) for kind, _, rel in files} == {("import", "run.trec"), ("evaluate", "metrics.json")}
    assert len(files) == 4 and lines == []
    for kind, digest, rel in files:
        folder = ArtifactStore(store).path(kind, digest)
        damage(folder / rel, how, (folder / rel).stat().st_mtime_ns)
        if how == "flip":
            assert ArtifactStore(store).check(kind, digest).ok  # the fast path cannot see it ...
            found = ArtifactStore(store, verify=True).check(kind, digest)  # ... a digest can
            assert found.state == "damaged" and found.problem.startswith(f"{rel}: sha256 ")
        else:
            assert not ArtifactStore(store).exists(kind, digest)
        records, lines = run(suite, store, results, data_root, verify=how == "flip")
        assert len(lines) == 1, lines
        assert str(folder) in lines[0] and f"{rel}: " in lines[0] and "rebuilding" in lines[0]
        if how == "truncate":
            assert f"{rel}: size " in lines[0] and "!= recorded" in lines[0]
        rebuilt = [s for r in records for s in r["stages"] if s["hash"] == digest]
        assert rebuilt and not rebuilt[0]["cached"]
        assert all(s["cached"] for r in records for s in r["stages"] if s["hash"] != digest)
        assert outcome(records, results) == clean, f"{how} {kind}/{rel}"
        assert ArtifactStore(store).check(kind, digest, full=True).ok
        aside = list((store / "damaged").glob(f"{kind}-{digest}-*"))
        assert len(aside) == 1 and (aside[0] / "manifest.json").is_file()  # kept, never deleted silently
    records, lines = run(suite, store, results, data_root, verify=True)
    assert lines == [] and all(s["cached"] for r in records for s in r["stages"])
    assert outcome(records, results) == clean


def test_truncated_run_is_not_evaluated_by_a_new_measure_set(tmp_path: Path, data_root: Path) -> None:
    """Issue 7 item 2 as reported: truncate a finished run.trec in the store, change the suite's measures,
    and the new evaluate stage used to score the truncated run (wrong metrics, exit 0). Now the run
    artifact is rebuilt first and the metrics equal those of a clean store."""
    suite, store, results = write_suite(tmp_path, data_root), tmp_path / "store", tmp_path / "results"
    run(suite, store, results, data_root)
    digest = next(d for kind, d, _ in artifact_files(store) if kind == "import")
    run_file = ArtifactStore(store).path("import", digest) / "run.trec"
    run_file.write_text("\n".join(run_file.read_text().splitlines()[:40]) + "\n")
    more = write_suite(tmp_path, data_root, '["RR@10", "nDCG@10", "R@100"]', "more.toml")
    records, lines = run(more, store, results, data_root)
    assert len(lines) == 1 and "run.trec: size" in lines[0]
    reference, _ = run(more, tmp_path / "clean-store", tmp_path / "clean-results", data_root)
    assert outcome(records, results) == outcome(reference, tmp_path / "clean-results")


def test_store_verify_exit_codes(tmp_path: Path, data_root: Path) -> None:
    """`rqbench store verify`: 0 on a clean store, 1 with one line per damaged artifact (a flipped byte with
    its mtime put back, which only a digest finds). Fails before issue 7: there was no such command."""
    from rqbench.cli.store import store_app

    suite, store, results = write_suite(tmp_path, data_root), tmp_path / "store", tmp_path / "results"
    run(suite, store, results, data_root)
    cli = CliRunner()
    ok = cli.invoke(store_app, ["verify", "--store", str(store)])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == "" and "4 artifact(s) checked, 0 damaged" in ok.stderr
    kind, digest, rel = artifact_files(store)[0]
    folder = ArtifactStore(store).path(kind, digest)
    damage(folder / rel, "flip", (folder / rel).stat().st_mtime_ns)
    bad = cli.invoke(store_app, ["verify", "--store", str(store)])
    assert bad.exit_code == 1
    (line,) = bad.stdout.splitlines()
    assert line.startswith(f"damaged: {folder}: {rel}: sha256 ") and "!= recorded" in line
    as_json = cli.invoke(store_app, ["verify", "--store", str(store), "--json"])
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["checked"] == 4 and [d["hash"] for d in report["damaged"]] == [digest]
    missing = cli.invoke(store_app, ["verify", "--store", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "no artifact store here" in str(missing.exception)


def test_store_gc_dry_run_then_delete(tmp_path: Path, data_root: Path) -> None:
    """`rqbench store gc` lists (dry run) an artifact no record references, a stale tmp folder and a damaged
    copy set aside, but not a tmp folder whose build is live nor any referenced artifact; `--delete` removes
    exactly those, and the suite reruns fully cached. Fails before issue 7: there was no such command."""
    from rqbench.cli.store import store_app

    suite, store, results = write_suite(tmp_path, data_root), tmp_path / "store", tmp_path / "results"
    run(suite, store, results, data_root)
    referenced = [ArtifactStore(store).path(kind, digest) for kind, digest, _ in artifact_files(store)]
    orphan, _ = ArtifactStore(store).build("import", stable_hash("orphan"), {}, lambda out: (out / "run.trec")
                                           .write_text("q Q0 d 1 1.0 x\n"))
    stale = store / "tmp" / f"{stable_hash('killed')}-999-deadbeef"
    (stale / "part").mkdir(parents=True)
    (stale / "part" / "shard0").write_bytes(b"x" * 1000)
    live_digest = stable_hash("live")
    live = store / "tmp" / f"{live_digest}-resume"
    live.mkdir()
    aside = store / "damaged" / f"import-{stable_hash('old')}-20250101T000000"
    aside.mkdir(parents=True)
    (aside / "run.trec").write_text("half")
    cli = CliRunner()
    with file_lock(store / "locks" / f"{live_digest}.lock"):  # a build of `live` is running
        dry = cli.invoke(store_app, ["gc", "--store", str(store), "--results", str(results), "--grace", "0"])
        assert dry.exit_code == 0, dry.output
        listed = dry.stdout.splitlines()
        for path in (orphan, stale, aside):
            assert any(line.endswith(str(path)) for line in listed), (path, dry.stdout)
        assert str(live) not in dry.stdout and not any(str(p) in dry.stdout for p in referenced)
        assert "would remove 3 item(s) (1 stale tmp, 1 unreferenced, 1 damaged)" in dry.stdout
        assert orphan.exists() and stale.exists() and aside.exists()  # a dry run removes nothing
        gone = cli.invoke(store_app, ["gc", "--store", str(store), "--results", str(results), "--delete",
                                      "--grace", "0"])  # the orphan was built just now
    assert gone.exit_code == 0, gone.output
    assert "removed 3 item(s)" in gone.stdout
    assert not orphan.exists() and not stale.exists() and not aside.exists()
    assert live.exists() and all(p.is_dir() for p in referenced)
    records, lines = run(suite, store, results, data_root, verify=True)
    assert lines == [] and all(s["cached"] for r in records for s in r["stages"])
    no_results = cli.invoke(store_app, ["gc", "--store", str(store), "--results", str(tmp_path / "none")])
    assert isinstance(no_results.exception, RqbenchError)  # no records folder: not "everything unreferenced"
    assert "results folder not found" in str(no_results.exception) and all(p.is_dir() for p in referenced)


def _tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def test_fully_cached_read_only_store_is_usable(tmp_path: Path, data_root: Path) -> None:
    """A store that holds every artifact a suite needs is usable read-only: reuse takes no lock and writes
    nothing, and only building something new fails, as an EnvironmentFault (exit 3) naming the lock.
    As root (who ignores permissions) the locks folder is made a file so no lock can be created. Fails
    before issue 7: every build opened its lock file for writing, a PermissionError/FileExistsError."""
    suite, store, results = write_suite(tmp_path, data_root), tmp_path / "store", tmp_path / "results"
    clean_records, _ = run(suite, store, results, data_root)
    clean = outcome(clean_records, results)
    as_root = os.geteuid() == 0
    if as_root:
        shutil.rmtree(store / "locks")
        (store / "locks").write_text("not a folder\n")
    else:
        for path in [store, *store.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        before = _tree(store)
        records, lines = run(suite, store, results, data_root, verify=True)
        assert lines == [] and all(s["cached"] for r in records for s in r["stages"])
        assert outcome(records, results) == clean
        assert _tree(store) == before  # nothing written, no lock created
        with pytest.raises(EnvironmentFault) as info:
            ArtifactStore(store).build("import", stable_hash("new"), {}, lambda out: None)
        fault = info.value
        assert fault.exit_code == 3 and "\n" not in fault.one_line()
        assert fault.path == str(store / "locks" / f"{stable_hash('new')}.lock")
        assert "cannot write (" in fault.one_line()
        if not as_root:
            assert "permission denied" in fault.one_line() or "read-only" in fault.one_line()
    finally:
        for path in [store, *store.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_store_commands_through_the_cli(tmp_path: Path, data_root: Path) -> None:
    """`rqbench store verify` and `rqbench run --verify` through the real command line."""
    import os
    import subprocess
    import sys

    run = data_root / "msmarco-dl19-mini" / "bm25.top50.trec"
    suite = tmp_path / "s.toml"
    suite.write_text(f'[suite]\nname = "cli"\ndataset = "{data_root / "msmarco-dl19-mini"}"\nmeasures = ["RR@10"]\n'
                     f'[[variants]]\nname = "r"\nbackend = "trec-run"\nparams = {{ path = "{run}" }}\n')
    env = {**os.environ, "COLUMNS": "120"}

    def rq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=300)

    first = rq("run", str(suite), "--json")
    assert first.returncode == 0, first.stderr
    assert rq("store", "verify").returncode == 0
    (imported,) = (tmp_path / ".rqbench" / "store" / "import").glob("*/*/run.trec")
    data = bytearray(imported.read_bytes())
    data[len(data) // 2] ^= 0x01
    stat = imported.stat()
    imported.write_bytes(bytes(data))
    os.utime(imported, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time: only a digest sees it
    damaged = rq("store", "verify")
    assert damaged.returncode == 1 and "run.trec" in damaged.stdout
    again = rq("run", str(suite), "--json", "--verify")
    assert again.returncode == 0 and "damaged artifact" in again.stderr
    assert json.loads(again.stdout)[0]["metrics"] == json.loads(first.stdout)[0]["metrics"]
