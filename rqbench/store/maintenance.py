"""Store maintenance behind `rqbench store verify` and `rqbench store gc`.

`verify_store` checks every artifact's files against their recorded sha256. `gc_candidates` lists what
`gc` may remove: stale temporary folders under `<store>/tmp/` (no live builder holds the matching
lock), artifacts no record references (records are `<results>/records.jsonl` or `<results>/*/records.jsonl`;
a record references artifacts by `stages[*].hash`, and an artifact keeps what its manifest names as inputs),
and everything set aside under `<store>/damaged/`. It keeps what a running rqbench holds (`store.live`) and,
like git's gc, unreferenced artifacts younger than a grace period. Only a real store is cleaned (its marker
file or its layout), only entries named as the store names them, and never through a symlink. `remove`
deletes them, each under its lock so a live build is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rqbench.artifacts import MANIFEST, RESERVED, STORE_MARKER, ArtifactStore
from rqbench.errors import EnvironmentFault, RqbenchError
from rqbench.records import read_records
from rqbench.store.live import live_hashes

HEX64 = re.compile(r"[0-9a-f]{64}")
TMP_NAME = re.compile(r"(old-)?[0-9a-f]{64}-|gc-[0-9a-f]{8}$")  # what the store and gc create under tmp/
DAMAGED_NAME = re.compile(r"[A-Za-z0-9_.-]+-[0-9a-f]{64}-")  # <kind>-<hash>-<time>, as the store sets aside


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


def records_files(root: Path) -> list[Path]:
    """The records.jsonl files of a results folder: a suite's own folder holds one, a results root one per
    suite folder."""
    if not root.is_dir():
        raise RqbenchError("results folder not found (gc keeps what its records reference; name it with "
                           "--results)", root)
    own = root / "records.jsonl"
    return ([own] if own.is_file() else []) + sorted(root.glob("*/records.jsonl"))


def referenced_hashes(results_roots: Iterable[Path]) -> set[str]:
    """Hashes of every artifact a record under the results folders names (its stages, its run). A folder
    holding no record is refused: gc would take every artifact for unreferenced."""
    hashes: set[str] = set()
    for root in results_roots:
        count = 0
        for path in records_files(root):
            for record in read_records(path):
                count += 1
                hashes.update(s["hash"] for s in record.get("stages", []) if isinstance(s, dict) and "hash" in s)
                hashes.update(h for h in (record.get("artifact_hashes") or {}).values() if isinstance(h, str))
                if isinstance(record.get("system"), dict) and isinstance(record["system"].get("run"), str):
                    hashes.add(record["system"]["run"])
        if count == 0:
            raise RqbenchError("no records here, so gc would take every artifact for unreferenced (--results "
                               "takes a results folder or a suite's folder holding records.jsonl)", root)
    return hashes


def is_store(root: Path) -> bool:
    """Whether `root` is an rqbench store: its marker file, or (a store older than the marker) an artifact folder
    `<kind>/<hash[:2]>/<hash>/` whose manifest names that hash."""
    if (root / STORE_MARKER).is_file():
        return True
    for _kind, digest, folder in _artifact_folders(root):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("hash") == digest:
                return True
    return False


def parse_grace(text: str) -> float:
    """Seconds of a duration like '0', '90s', '30m', '1h', '2d' (a bare number is seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise RqbenchError(f"--grace: expected a duration such as 0, 30m, 1h or 2d, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]


@dataclass
class GcPlan:
    """What gc would remove, and the unreferenced artifacts it keeps: held by a running rqbench, or built
    within the grace period (like git's gc, which never prunes recent objects)."""

    candidates: list[Candidate]
    live: list[Candidate]
    recent: list[Candidate]
    stale_markers: list[Path]


def gc_candidates(store: ArtifactStore, results_roots: Iterable[Path], grace_s: float = 0.0) -> GcPlan:
    """What gc may remove: only the store's own entries (never through a symlink), never what a live run holds
    nor an unreferenced artifact younger than `grace_s`."""
    keep = referenced_hashes(results_roots)
    held, stale_markers = live_hashes(store.root)
    artifacts = {digest: (kind, folder) for kind, digest, folder in _artifact_folders(store.root)}
    _keep_inputs(store, artifacts, keep)
    plan = GcPlan([], [], [], stale_markers)
    for entry in _own_entries(store.root / "tmp", TMP_NAME):
        match = HEX64.search(entry.name)
        lock = store.lock_path(match.group()) if match else None
        if not _held(lock):
            plan.candidates.append(Candidate("stale tmp", entry, _size(entry), lock))
    now = time.time()
    for digest, (_kind, folder) in sorted(artifacts.items(), key=lambda kv: str(kv[1][1])):
        if digest in keep:
            continue
        cand = Candidate("unreferenced", folder, _size(folder), store.lock_path(digest))
        if digest in held:
            plan.live.append(cand)
        elif now - _built_at(folder) < grace_s:
            plan.recent.append(cand)
        else:
            plan.candidates.append(cand)
    plan.candidates.extend(Candidate("damaged", entry, _size(entry), None)
                           for entry in _own_entries(store.root / "damaged", DAMAGED_NAME))
    return plan


def _keep_inputs(store: ArtifactStore, artifacts: dict[str, tuple[str, Path]], keep: set[str]) -> None:
    """Add to `keep` every input of a kept artifact, transitively (an artifact that is kept keeps its inputs)."""
    frontier = list(keep & artifacts.keys())
    while frontier:
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


def _real_dirs(folder: Path) -> list[Path]:
    """The sub-folders of `folder`, never through a symlink (a link out of the store is not the store's)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _artifact_folders(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(kind, hash, folder) of every `<kind>/<hash[:2]>/<hash>` folder, symlinks neither listed nor followed."""
    if not root.is_dir():
        return
    for kind_dir in _real_dirs(root):
        if kind_dir.name in RESERVED:
            continue
        for prefix in (p for p in _real_dirs(kind_dir) if len(p.name) == 2):
            for folder in _real_dirs(prefix):
                if HEX64.fullmatch(folder.name) and folder.name.startswith(prefix.name):
                    yield kind_dir.name, folder.name, folder


def _own_entries(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Entries of a store folder (tmp/, damaged/) named as the store names them; none through a symlink."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if pattern.match(p.name) and not p.is_symlink()]


def _built_at(folder: Path) -> float:
    """When an artifact was finished (its manifest's mtime; the folder's when the manifest is gone)."""
    for path in (folder / MANIFEST, folder):
        with contextlib.suppress(OSError):
            return path.lstat().st_mtime
    return 0.0


def _inside(path: Path, root: Path) -> bool:
    """Whether `path` itself (not a link) lies under the store's real root, with no symlink on the way."""
    return not path.is_symlink() and os.path.realpath(path.parent).startswith(os.path.realpath(root) + os.sep)


def remove(store: ArtifactStore, candidates: Iterable[Candidate]) -> tuple[list[Candidate], list[Candidate]]:
    """Delete the candidates; (removed, skipped because a builder took their lock meanwhile)."""
    removed, skipped = [], []
    tmp = store.root / "tmp"
    for cand in candidates:
        if not _inside(cand.path, store.root):
            continue  # replaced by a link since it was listed: never delete outside the store
        with _try_lock(cand.lock) as acquired:
            if not acquired:
                skipped.append(cand)
                continue
            try:
                if cand.path.is_dir():
                    if cand.reason == "unreferenced" and not tmp.is_symlink():  # out of sight first
                        trash = tmp / f"gc-{uuid.uuid4().hex[:8]}"
                        trash.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(cand.path, trash)
                        shutil.rmtree(trash)
                    else:
                        shutil.rmtree(cand.path)  # removes links inside, never what they point to
                elif cand.path.exists():
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
