"""Live-run markers: what a running `rqbench run` holds in the store, so `rqbench store gc` never deletes it.

A run registers `<store>/live/<pid>-<id>.json` listing the hashes of every artifact it will build or reuse,
and holds an exclusive flock on that file for its whole life: a killed run's lock is released by the
kernel, so its stale marker blocks nothing (gc removes it). Registration and gc exclude each other through
`<store>/locks/gc.lock` (shared for a run registering, exclusive for a deleting gc): a run either registers
before gc reads the markers, or waits for gc to finish and then finds (and rebuilds) whatever gc removed.
A store where no marker can be written (read-only) is used without one: gc cannot delete from it either.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from rqbench.errors import EnvironmentFault

LIVE = "live"  # the store folder that holds the markers
GC_LOCK = "gc.lock"


def _open_lock(path: Path) -> IO[str] | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a")
    except OSError:
        return None


@contextlib.contextmanager
def gc_lock(root: Path, exclusive: bool) -> Iterator[bool]:
    """The store-wide lock between registering runs (shared) and a deleting gc (exclusive); yields whether
    it is held. A deleting gc that cannot create it (read-only store) is an EnvironmentFault (exit 3)."""
    path = root / "locks" / GC_LOCK
    fh = _open_lock(path)
    if fh is None:
        if exclusive:
            raise EnvironmentFault("cannot write (the store is not writable: nothing can be removed)", path)
        yield False
        return
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def hold(root: Path, hashes: Iterable[str]) -> Iterator[None]:
    """Hold `hashes` (the artifacts a run builds or reuses) against gc while the block runs."""
    marker = root / LIVE / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    fh = None
    with gc_lock(root, exclusive=False) as locked:
        fh = _open_lock(marker) if locked else None  # no gc.lock (read-only store): no gc can delete either
        if fh is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fh.write(json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "hashes": sorted(set(hashes))}) + "\n")
            fh.flush()
    try:
        yield
    finally:
        if fh is not None:
            with contextlib.suppress(OSError):
                marker.unlink()  # before releasing the lock: gc never sees it unheld while this process lives
            fh.close()


def live_hashes(root: Path) -> tuple[set[str], list[Path]]:
    """(hashes held by live runs, markers of dead runs). A marker whose lock nobody holds is dead."""
    held: set[str] = set()
    stale: list[Path] = []
    folder = root / LIVE
    if not folder.is_dir() or folder.is_symlink():
        return held, stale
    for path in sorted(folder.glob("*.json")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # gone meanwhile: that run ended
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            held.update(_read_hashes(fd))
        else:
            stale.append(path)
        finally:
            os.close(fd)
    return held, stale


def _read_hashes(fd: int) -> list[str]:
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError), \
            os.fdopen(os.dup(fd), encoding="utf-8") as fh:
        return [h for h in json.loads(fh.read()).get("hashes", []) if isinstance(h, str)]
    return []
