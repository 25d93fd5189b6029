"""The artifact store: atomic builds, reuse, overwrite, and concurrent builders in real processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
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


def test_manifest_records_every_file(tmp_path: Path) -> None:
    """Each file of the folder (recursively, not manifest.json) with its size, mtime and sha256. Fails
    before issue 7: manifests recorded no files."""
    store = ArtifactStore(tmp_path)

    def produce(out: Path) -> None:
        (out / "sub" / "deep").mkdir(parents=True)
        (out / "sub" / "deep" / "a.bin").write_bytes(b"\x00\x01" * 1000)
        (out / "run.trec").write_text("q Q0 d 1 1.0 x\n")

    path, _ = store.build("index", stable_hash("files"), {}, produce)
    files = store.manifest("index", stable_hash("files"))["files"]
    assert sorted(files) == ["run.trec", "sub/deep/a.bin"]
    for rel, entry in files.items():
        assert entry == {"size": (path / rel).stat().st_size, "mtime_ns": (path / rel).stat().st_mtime_ns,
                         "sha256": hashlib.sha256((path / rel).read_bytes()).hexdigest()}


def test_manifest_records_the_building_environment(tmp_path: Path) -> None:
    """The module docstring promised the environment in every manifest; it was missing (issue 20 review)."""
    import platform
    from importlib.metadata import version

    store = ArtifactStore(tmp_path)
    store.build("index", stable_hash("env"), {"config": {"k": 1}}, lambda out: (out / "a").write_text("x"))
    manifest = store.manifest("index", stable_hash("env"))
    assert manifest["environment"]["python"] == platform.python_version()
    assert manifest["environment"]["packages"]["numpy"] == version("numpy")
    assert manifest["config"] == {"k": 1}  # the stage's own fields are kept beside it


def test_touched_file_is_reused_after_its_digest_matches(tmp_path: Path) -> None:
    """A changed mtime alone (a copied store, `touch`) falls back to the digest: reused, not rebuilt, and the
    new mtime is recorded so the next check is fast again. Fails before issue 7: no mtimes were recorded."""
    lines: list[str] = []
    store = ArtifactStore(tmp_path, on_damage=lines.append)
    digest = stable_hash("touch")
    path, _ = store.build("run", digest, {}, lambda out: (out / "run.trec").write_text("q Q0 d 1 1.0 x\n"))
    os.utime(path / "run.trec", ns=(0, 10**18))
    again, built = store.build("run", digest, {}, lambda out: pytest.fail("rebuilt an intact artifact"))
    assert again == path and not built and lines == []
    assert store.manifest("run", digest)["files"]["run.trec"]["mtime_ns"] == 10**18


def test_damaged_artifact_is_reported_set_aside_and_rebuilt(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A resized file: `exists` says no (and moves nothing), `build` prints one warning line on stderr naming
    the folder and the problem, keeps the damaged copy under damaged/ and rebuilds. Fails before issue 7:
    the damaged artifact was reused."""
    store = ArtifactStore(tmp_path)
    digest = stable_hash("damage")
    path, _ = store.build("run", digest, {}, lambda out: (out / "run.trec").write_text("0123456789"))
    (path / "run.trec").write_text("01234")
    assert not store.exists("run", digest) and not (tmp_path / "damaged").exists()
    assert store.check("run", digest).problem == "run.trec: size 5 != recorded 10"
    again, built = store.build("run", digest, {}, lambda out: (out / "run.trec").write_text("0123456789"))
    assert built and (again / "run.trec").read_text() == "0123456789"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning: damaged artifact" in err and str(path) in err
    assert "run.trec: size 5 != recorded 10" in err
    (aside,) = (tmp_path / "damaged").iterdir()
    assert aside.name.startswith(f"run-{digest}-") and (aside / "run.trec").read_text() == "01234"
    (path / "manifest.json").unlink()  # a folder without its manifest is damaged, not absent
    assert store.check("run", digest).state == "damaged"


def test_artifact_built_before_file_digests_is_rebuilt(tmp_path: Path) -> None:
    """A manifest without a file list (an older rqbench) cannot be verified: one line, then a rebuild.
    Fails before issue 7: such artifacts were always reused."""
    lines: list[str] = []
    store = ArtifactStore(tmp_path, on_damage=lines.append)
    digest = stable_hash("old")
    path, _ = store.build("run", digest, {}, lambda out: (out / "v").write_text("1"))
    manifest = store.manifest("run", digest)
    del manifest["files"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert store.check("run", digest).state == "unverifiable" and not store.exists("run", digest)
    _, built = store.build("run", digest, {}, lambda out: (out / "v").write_text("1"))
    assert built and len(lines) == 1
    assert "built by an older rqbench (no file digests): rebuilding" in lines[0]
    assert "files" in store.manifest("run", digest)


def test_concurrent_builders_rebuild_a_damaged_artifact_once(tmp_path: Path) -> None:
    """Three processes find the same damaged artifact: it is set aside and rebuilt once."""
    marker = tmp_path / "marker.txt"
    _slow_builder(str(tmp_path / "store"), str(marker))
    store = ArtifactStore(tmp_path / "store")
    (store.path("index", stable_hash("shared")) / "v").write_text("truncated? no: longer")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_slow_builder, args=(str(tmp_path / "store"), str(marker))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert marker.read_text().count("built") == 2
    assert len(list((tmp_path / "store" / "damaged").iterdir())) == 1
    assert store.check("index", stable_hash("shared"), full=True).ok
