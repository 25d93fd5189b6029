"""The artifact store: atomic builds, reuse, overwrite, and concurrent builders in real processes."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from rqbench.artifacts import ArtifactStore, stable_hash


def test_build_then_reuse(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    calls = []

    def produce(out: Path) -> None:
        calls.append(out)
        (out / "data.txt").write_text("x")

    path, built = store.build("run", stable_hash({"a": 1}), {"config": {"a": 1}}, produce)
    assert built and (path / "data.txt").read_text() == "x"
    again, built_again = store.build("run", stable_hash({"a": 1}), {"config": {"a": 1}}, produce)
    assert again == path and not built_again and len(calls) == 1
    manifest = store.manifest("run", stable_hash({"a": 1}))
    assert manifest["config"] == {"a": 1} and manifest["built_seconds"] >= 0


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    digest = stable_hash("boom")

    def produce(out: Path) -> None:
        (out / "half.txt").write_text("half")
        raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError):
        store.build("index", digest, {}, produce)
    assert not store.exists("index", digest)
    assert not store.path("index", digest).exists()
    assert not any((tmp_path / "tmp").iterdir())


def test_overwrite_rebuilds(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    digest = stable_hash("o")
    store.build("run", digest, {}, lambda out: (out / "v").write_text("1"))
    path, built = store.build("run", digest, {}, lambda out: (out / "v").write_text("2"), overwrite=True)
    assert built and (path / "v").read_text() == "2"


def _slow_builder(root: str, marker: str) -> None:
    store = ArtifactStore(root)

    def produce(out: Path) -> None:
        with open(marker, "a") as fh:
            fh.write("built\n")
        time.sleep(0.5)
        (out / "v").write_text("done")

    store.build("index", stable_hash("shared"), {}, produce)


def test_concurrent_builders_build_once(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_slow_builder, args=(str(tmp_path / "store"), str(marker))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert marker.read_text().count("built") == 1
    assert (ArtifactStore(tmp_path / "store").path("index", stable_hash("shared")) / "v").read_text() == "done"


def test_resumable_build_continues_from_partial_work(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    digest = stable_hash("resume")
    seen: list[list[str]] = []

    def produce(out: Path) -> None:
        seen.append(sorted(p.name for p in out.iterdir()))
        for i in range(3):
            if not (out / f"part{i}").exists():
                (out / f"part{i}").write_text(str(i))
                if len(seen) == 1 and i == 1:
                    raise KeyboardInterrupt  # killed after two parts

    with pytest.raises(KeyboardInterrupt):
        store.build("train", digest, {}, produce, resumable=True)
    assert not store.exists("train", digest)
    path, built = store.build("train", digest, {}, produce, resumable=True)
    assert built and seen == [[], ["part0", "part1"]]
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "part0", "part1", "part2"]
    assert not (tmp_path / "tmp" / f"{digest}-resume").exists()
