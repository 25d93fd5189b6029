"""`rqbench store gc` never loses live or foreign work, and the store is readable by colleagues (issue 20,
items 2, 3 and 9): a real `rqbench run` paused on a build lock while gc deletes, a killed run's marker,
results folders without records, folders that are not stores, symlinks out of the store, and file modes
under umask 022 (mkstemp, transformers' safetensors writer). Real files and processes, no mocks."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rqbench.artifacts import ArtifactStore, stable_hash
from rqbench.plan import plan_suite
from rqbench.records import SCHEMA
from rqbench.suite import load_suite

SUITE = """[suite]
name = "live"
dataset = "{data}/msmarco-dl19-mini"
split = "test"
measures = ["RR@10"]

[[variants]]
name = "top50"
backend = "trec-run"
params = {{ path = "{data}/msmarco-dl19-mini/bm25.top50.trec" }}

[[variants]]
name = "published-bm25"
backend = "trec-run"
params = {{ path = "{data}/msmarco-dl19/runs/bm25.dl19.trec" }}
"""


def rq(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    return line


def build(store: Path, name: str, text: str = "x\n") -> Path:
    """A small artifact built through the store (as a stage would)."""
    folder, _ = ArtifactStore(store).build("import", stable_hash(name), {},
                                           lambda out: (out / "run.trec").write_text(text))
    return folder


def write_records(folder: Path, hashes: list[str]) -> Path:
    """A records.jsonl whose one record references `hashes` (its stages)."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"schema": SCHEMA, "suite": folder.name, "variant": "v", "stages": [{"hash": h} for h in hashes]}
    (folder / "records.jsonl").write_text(json.dumps(record) + "\n")
    return folder


class Lock:
    """An flock this test holds on a build lock file (release() may be called twice)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("a")
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)

    def release(self) -> None:
        self.fh.close()


Paused = tuple[subprocess.Popen[str], list[Path], Lock]


@pytest.fixture
def paused_run(tmp_path: Path, data_root: Path) -> Iterator[Paused]:
    """A real `rqbench run` (a second process) that has built every node but the last and waits for that
    node's build lock, which this test holds: (the process, the artifacts it built, the lock to release)."""
    suite = tmp_path / "live.toml"
    suite.write_text(SUITE.format(data=data_root))
    store = tmp_path / "store"
    nodes = list(plan_suite(load_suite(suite), None).nodes.values())
    lock = Lock(ArtifactStore(store).lock_path(nodes[-1].hash))
    proc = subprocess.Popen([sys.executable, "-m", "rqbench.cli", "run", str(suite), "--store", str(store),
                             "--results", str(tmp_path / "results")], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})
    built = [ArtifactStore(store).path(n.kind.name, n.hash) for n in nodes[:-1]]
    deadline = time.monotonic() + 60
    while not all((p / "manifest.json").exists() for p in built):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    try:
        yield proc, built, lock
    finally:
        lock.release()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_gc_keeps_what_a_running_run_built(tmp_path: Path, paused_run: Paused) -> None:
    """Item 2: `store gc --delete` while a real `rqbench run` is half done keeps every artifact that run has
    built (none is referenced by a record yet), even with --grace 0; the run then finishes and records them.
    Fails before: gc deleted them and the run died reading its own evaluate artifact."""
    proc, built, lock = paused_run
    orphan = build(tmp_path / "store", "orphan")
    os.utime(orphan / "manifest.json", (time.time() - 7200, time.time() - 7200))  # older than the grace
    write_records(tmp_path / "results" / "other", [])
    gc = rq("store", "gc", "--store", "store", "--results", "results/other", "--delete", "--grace", "0",
            cwd=tmp_path)
    assert gc.returncode == 0, gc.stderr
    assert all(p.is_dir() for p in built), gc.stdout
    assert not orphan.exists()  # what no run holds still goes
    assert f"kept {len(built)} unreferenced artifact(s) that a running rqbench builds or uses" in gc.stdout
    lock.release()
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in (tmp_path / "results" / "live" / "records.jsonl").open()]
    assert len(records) == 2 and not list((tmp_path / "store" / "live").iterdir())  # marker gone at exit


def test_gc_frees_what_a_killed_run_held(tmp_path: Path, paused_run: Paused) -> None:
    """A killed run's marker protects nothing (its flock died with it): gc removes its unreferenced
    artifacts and the marker itself."""
    proc, built, _lock = paused_run
    (marker,) = (tmp_path / "store" / "live").glob("*.json")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    write_records(tmp_path / "results" / "other", [])
    gc = rq("store", "gc", "--store", "store", "--results", "results/other", "--delete", "--grace", "0",
            cwd=tmp_path)
    assert gc.returncode == 0, gc.stderr
    assert not any(p.exists() for p in built) and not marker.exists(), gc.stdout


def test_gc_keeps_recent_artifacts_for_the_grace_period(tmp_path: Path) -> None:
    """Like git's gc: an unreferenced artifact younger than --grace (default 1h) is kept and counted."""
    store, results = tmp_path / "store", write_records(tmp_path / "results" / "s", [])
    fresh, old = build(store, "fresh"), build(store, "old")
    os.utime(old / "manifest.json", (time.time() - 7200, time.time() - 7200))
    gc = rq("store", "gc", "--store", str(store), "--results", str(results), "--delete", cwd=tmp_path)
    assert gc.returncode == 0, gc.stderr
    assert fresh.is_dir() and not old.exists()
    assert "kept 1 unreferenced artifact(s) built within --grace 1h (--grace 0 removes them)" in gc.stdout
    bad = rq("store", "gc", "--store", str(store), "--results", str(results), "--grace", "soon", cwd=tmp_path)
    assert "--grace: expected a duration" in one_line_error(bad)


def test_gc_accepts_a_suite_folder_and_refuses_results_without_records(tmp_path: Path) -> None:
    """Item 3: `--results results/<suite>` keeps what that suite's records reference (fails before: records
    were looked for one level deeper, so every artifact was deleted); a results folder holding no record is
    refused (exit 2, one line) instead of taking every artifact for unreferenced."""
    store = tmp_path / "store"
    kept, other = build(store, "kept"), build(store, "other")
    for folder in (kept, other):
        os.utime(folder / "manifest.json", (time.time() - 7200, time.time() - 7200))
    suite_dir = write_records(tmp_path / "results" / "suite", [kept.name])
    gc = rq("store", "gc", "--store", str(store), "--results", str(suite_dir), "--delete", cwd=tmp_path)
    assert gc.returncode == 0, gc.stderr
    assert kept.is_dir() and not other.exists(), gc.stdout
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "records.jsonl").write_text("")
    for empty in (tmp_path / "empty", tmp_path / "empty" / "sub"):
        refused = rq("store", "gc", "--store", str(store), "--results", str(empty), "--delete", cwd=tmp_path)
        line = one_line_error(refused)
        assert line.startswith(f"rqbench: error: {empty}: no records here") and kept.is_dir()


def test_gc_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    """Item 3: `--store` at an ordinary folder (with tmp/ and damaged/ of its own) is refused, exit 2, and
    nothing in it is touched. Fails before: its files were listed (and deleted) as stale and damaged."""
    home = tmp_path / "home"
    for rel in ("tmp/notes.txt", "damaged/photo.jpg", "projects/ab/cd/file.txt"):
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text("mine\n")
    results = write_records(tmp_path / "results" / "s", [])
    refused = rq("store", "gc", "--store", str(home), "--results", str(results), "--delete", cwd=tmp_path)
    assert "not an rqbench artifact store" in one_line_error(refused)
    assert sorted(p.name for p in home.rglob("*") if p.is_file()) == ["file.txt", "notes.txt", "photo.jpg"]


def test_gc_never_follows_a_symlink_out_of_the_store(tmp_path: Path) -> None:
    """Item 3: links in the store (tmp/, damaged/, a kind folder, an artifact folder, a link inside an
    artifact) pointing outside: gc removes the store's own unreferenced artifact, and every file outside
    survives. Fails before: tmp/ and kind folders were followed and their targets' contents deleted."""
    store, outside = tmp_path / "store", tmp_path / "outside"
    victim = build(store, "victim")
    os.utime(victim / "manifest.json", (time.time() - 7200, time.time() - 7200))
    hex_name = stable_hash("elsewhere")
    for rel in (f"tmp/{hex_name}-1-deadbeef/f", f"damaged/import-{hex_name}-20250101T000000/f",
                f"kind/{hex_name[:2]}/{hex_name}/manifest.json", f"art/{hex_name}/f"):
        (outside / rel).parent.mkdir(parents=True, exist_ok=True)
        (outside / rel).write_text(json.dumps({"hash": hex_name}))
    (store / "tmp").rmdir()  # empty: the build renamed its work folder into place
    (store / "tmp").symlink_to(outside / "tmp")
    (store / "damaged").symlink_to(outside / "damaged")
    (store / "foreign").symlink_to(outside / "kind")
    (store / "import" / hex_name[:2]).mkdir(exist_ok=True)
    (store / "import" / hex_name[:2] / hex_name).symlink_to(outside / "art" / hex_name)
    (victim / "link").symlink_to(outside / "art")
    results = write_records(tmp_path / "results" / "s", [])
    gc = rq("store", "gc", "--store", str(store), "--results", str(results), "--delete", cwd=tmp_path)
    assert gc.returncode == 0, gc.stderr
    assert not victim.exists()
    assert len([p for p in outside.rglob("*") if p.is_file()]) == 4, gc.stdout


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mode & 0o777 for p in folder.rglob("*")}


def test_store_files_get_the_umask_mode(tmp_path: Path, umask_022: None) -> None:
    """Item 9: under umask 022, what a stage writes into the store is 0644 (folders 0755): model.safetensors
    written by transformers (DualEncoder.save), embeddings.f32 written through mkstemp (encode_corpus), a
    private folder. Fails before: both files were 0600, the folder 0700."""
    from rqbench.dense.encoding import encode_corpus
    from rqbench.models.dual_encoder import DualEncoder
    from rqbench.training.tiny import make_tiny_bert

    model = DualEncoder.load(str(make_tiny_bert(tmp_path / "tiny")))

    def produce(out: Path) -> None:
        model.save(out / "model")
        encode_corpus(model, ["a passage", "another one"], out / "embeddings", batch_size=2, device="cpu",
                      autocast=None, progress=False)
        os.mkdir(out / "private", 0o700)

    folder, _ = ArtifactStore(tmp_path / "store").build("index", stable_hash("modes"), {}, produce)
    found = modes(folder)
    assert found["model/model.safetensors"] == 0o644 and found["embeddings/embeddings.f32"] == 0o644, found
    assert found["private"] == 0o755 and set(found.values()) <= {0o644, 0o755}, found
    encode_corpus(model, ["a passage"], tmp_path / "plain", batch_size=1, device="cpu", autocast=None,
                  progress=False)  # outside a store too: mkstemp's 0600 is not left on the file
    assert modes(tmp_path / "plain")["embeddings.f32"] == 0o644


class TwoSteps:
    """The batch plan of `TinyBertTask`: two steps of four random examples."""

    world_size, batch, steps_per_epoch, total_steps, global_batch = 1, 4, 2, 2, 4

    def epoch_of(self, step: int) -> int:
        return 0

    def local_batch(self, step: int, micro: int, rank: int) -> tuple:
        import torch

        x = torch.randn(4, 6, generator=torch.Generator().manual_seed(step))
        return x, x.sum(1, keepdim=True)


class TinyBertTask:
    """A real training task in miniature: a linear model trained two steps, saved as a tiny BERT written by
    transformers (what `rqbench train --out` writes for a dual encoder)."""

    name = "tiny-modes"
    outputs = ("model",)

    def __init__(self, data: Path) -> None:
        self.data = data

    def data_files(self) -> dict[str, Path]:
        return {"toy": self.data}

    def plan(self, world_size: int) -> TwoSteps:
        return TwoSteps()

    def summary(self) -> str:
        return "toy data"

    def load_model(self, init: Path | None) -> object:
        import torch

        return torch.nn.Linear(6, 1)

    def loss(self, model: object, batch: tuple, env: object) -> object:
        import torch

        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y)  # type: ignore[operator]

    def save(self, model: object, folder: Path) -> None:
        from rqbench.training.tiny import make_tiny_bert

        make_tiny_bert(folder / "model")


def test_training_outputs_and_checkpoints_get_the_umask_mode(tmp_path: Path, umask_022: None) -> None:
    """Item 9, `rqbench train --out`: the output folder's and a checkpoint's model.safetensors are 0644 under
    umask 022. Fails before: transformers left them 0600."""
    from rqbench.training.config import TrainConfig
    from rqbench.training.loop import train

    (tmp_path / "toy.txt").write_text("toy\n")
    config = TrainConfig(batch_size=4, epochs=1, lr=1e-2, save_every=1, keep_checkpoints=1, threads=1, seed=0)
    train(TinyBertTask(tmp_path / "toy.txt"), config, tmp_path / "out", progress=False)
    found = modes(tmp_path / "out")
    assert found["model/model.safetensors"] == 0o644, found
    assert found["checkpoint-1/model/model.safetensors"] == 0o644, found
