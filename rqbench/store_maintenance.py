"""Store maintenance behind `rqbench store verify` and `rqbench store gc`.

`verify_store` checks every artifact's files against their recorded sha256. `gc_candidates` lists what
`gc` may remove: stale temporary folders under `<store>/tmp/` (no live builder holds the matching
lock), artifacts no record references (records are `<results>/*/records.jsonl`; a record references
artifacts by `stages[*].hash`, and an artifact keeps what its manifest names as inputs), and everything
set aside under `<store>/damaged/`. `remove` deletes them, each under its lock so a live build is never
touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rqbench.artifacts import ArtifactStore
from rqbench.errors import EnvironmentFault, RqbenchError
from rqbench.records import read_records

HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Finding:
    """An artifact `verify` could not vouch for: state "damaged" or "unverifiable"."""

    kind: str
    hash: str
    path: Path
    state: str
    problem: str

    def line(self) -> str:
        return f"{self.state}: {self.path}: {self.problem}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "hash": self.hash, "path": str(self.path), "state": self.state,
                "problem": self.problem}


@dataclass(frozen=True)
class Candidate:
    """Something gc would remove: why ("stale tmp", "unreferenced", "damaged"), where, its size."""

    reason: str
    path: Path
    bytes: int
    lock: Path | None  # held (non-blocking) while removing; None: nothing guards it


def verify_store(store: ArtifactStore) -> tuple[int, list[Finding]]:
    """(artifacts checked, findings): every file of every artifact against its recorded sha256."""
    checked, findings = 0, []
    for kind, digest, folder in store.artifacts():
        checked += 1
        found = store.check(kind, digest, full=True)
        if not found.ok:
            findings.append(Finding(kind, digest, folder, found.state, found.problem))
    return checked, findings


def referenced_hashes(results_roots: Iterable[Path]) -> set[str]:
    """Hashes of every artifact a record under the results folders names (its stages, its run)."""
    hashes: set[str] = set()
    for root in results_roots:
        if not root.is_dir():
            raise RqbenchError("results folder not found (gc keeps what its records reference; name it with "
                               "--results)", root)
        for path in sorted(root.glob("*/records.jsonl")):
            for record in read_records(path):
                hashes.update(s["hash"] for s in record.get("stages", []) if isinstance(s, dict) and "hash" in s)
                hashes.update(h for h in (record.get("artifact_hashes") or {}).values() if isinstance(h, str))
                if isinstance(record.get("system"), dict) and isinstance(record["system"].get("run"), str):
                    hashes.add(record["system"]["run"])
    return hashes


def gc_candidates(store: ArtifactStore, results_roots: Iterable[Path]) -> list[Candidate]:
    keep = referenced_hashes(results_roots)
    artifacts = {digest: (kind, folder) for kind, digest, folder in store.artifacts()}
    frontier = list(keep & artifacts.keys())
    while frontier:  # an artifact that is kept keeps its inputs
        digest = frontier.pop()
        try:
            inputs = store.manifest(artifacts[digest][0], digest).get("inputs") or {}
        except (OSError, ValueError, AttributeError):
            continue  # damaged: verify reports it, a rebuild replaces it
        for edge in inputs.values() if isinstance(inputs, dict) else ():
            h = edge.get("hash") if isinstance(edge, dict) else None
            if h in artifacts and h not in keep:
                keep.add(h)
                frontier.append(h)
    out: list[Candidate] = []
    tmp = store.root / "tmp"
    if tmp.is_dir():
        for entry in sorted(tmp.iterdir()):
            match = HEX64.search(entry.name)
            lock = store.lock_path(match.group()) if match else None
            if not _held(lock):
                out.append(Candidate("stale tmp", entry, _size(entry), lock))
    for digest, (_kind, folder) in sorted(artifacts.items(), key=lambda kv: str(kv[1][1])):
        if digest not in keep:
            out.append(Candidate("unreferenced", folder, _size(folder), store.lock_path(digest)))
    damaged = store.root / "damaged"
    if damaged.is_dir():
        out.extend(Candidate("damaged", entry, _size(entry), None) for entry in sorted(damaged.iterdir()))
    return out


def remove(store: ArtifactStore, candidates: Iterable[Candidate]) -> tuple[list[Candidate], list[Candidate]]:
    """Delete the candidates; (removed, skipped because a builder took their lock meanwhile)."""
    removed, skipped = [], []
    for cand in candidates:
        with _try_lock(cand.lock) as acquired:
            if not acquired:
                skipped.append(cand)
                continue
            try:
                if cand.path.is_dir() and not cand.path.is_symlink():
                    if cand.reason == "unreferenced":  # out of sight first: never half an artifact in place
                        trash = store.root / "tmp" / f"gc-{uuid.uuid4().hex[:8]}"
                        trash.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(cand.path, trash)
                        shutil.rmtree(trash)
                    else:
                        shutil.rmtree(cand.path)
                elif cand.path.exists() or cand.path.is_symlink():
                    cand.path.unlink()
            except OSError as exc:
                raise EnvironmentFault(f"cannot remove ({(exc.strerror or type(exc).__name__).lower()})",
                                       cand.path) from exc
            removed.append(cand)
    return removed, skipped


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _size(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        with contextlib.suppress(OSError):
            return path.lstat().st_size
        return 0
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _held(lock: Path | None) -> bool:
    """Whether a live process holds `lock` (a non-blocking flock fails)."""
    with _try_lock(lock) as acquired:
        return not acquired


@contextlib.contextmanager
def _try_lock(lock: Path | None) -> Iterator[bool]:
    """Yield True while holding `lock` (a non-blocking flock), or when there is no lock file to hold;
    False when a live process holds it."""
    try:
        fd = os.open(lock, os.O_RDONLY) if lock is not None else None
    except OSError:  # no lock file: nobody is building
        fd = None
    if fd is None:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            acquired = False
        else:
            acquired = True
        yield acquired
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
