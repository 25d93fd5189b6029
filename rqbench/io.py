"""Atomic file writes and a file lock: what keeps results intact when a run is killed or raced."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()  # read once: os.umask can only be read by setting it, which is not thread-safe


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds it is fsynced and renamed over
    `path`, when it fails it is removed. Readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; the file gets the mode any open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def append_line_locked(path: str | Path, line: str, on_torn: Callable[[str], None] | None = None) -> None:
    """Append one line under an exclusive lock, so concurrent writers never interleave.

    A torn last line (a writer killed mid-line, a full disk) is repaired first, so the new line starts on
    a fresh one: a fragment that is complete JSON only lacked its newline and gets it; anything else is
    moved to `<file>.damaged` (appended, never lost) and cut from the file, and `on_torn` is told.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name(path.name + ".lock")), path.open("a+b") as fh:
        _repair_torn_tail(fh, path, on_torn)
        fh.write((line.rstrip("\n") + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def torn_tail(fh: BinaryIO) -> tuple[int, bytes] | None:
    """(offset, bytes) of the last line when the file does not end with a newline; None when it does."""
    end = fh.seek(0, os.SEEK_END)
    if end == 0:
        return None
    fh.seek(end - 1)
    if fh.read(1) == b"\n":
        return None
    pos, chunk = end, 1 << 16
    while pos > 0:
        start = max(0, pos - chunk)
        fh.seek(start)
        block = fh.read(pos - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            start += newline + 1
            break
        pos = start
    else:
        start = 0
    fh.seek(start)
    return start, fh.read(end - start)


def _repair_torn_tail(fh: BinaryIO, path: Path, on_torn: Callable[[str], None] | None) -> None:
    found = torn_tail(fh)
    if found is None:
        return
    offset, fragment = found
    try:
        json.loads(fragment)
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n")  # a whole record that only lacked its newline
        return
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    damaged = path.with_name(path.name + ".damaged")
    with damaged.open("ab") as out:
        out.write(fragment + b"\n")
        out.flush()
        os.fsync(out.fileno())
    fh.truncate(offset)
    if on_torn is not None:
        on_torn(f"{path}: the last line was torn ({len(fragment)} bytes, an interrupted write?); "
                f"moved to {damaged.name}")


@contextlib.contextmanager
def file_lock(lock_path: str | Path) -> Iterator[None]:
    """An exclusive advisory lock (flock); released when the process dies, so never stale."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def portable_path(path: str | None) -> str | None:
    """An absolute path relative to the current folder (the checkout, for committed records and reports), so
    that what is written names no machine's folders; other values as they are."""
    if not path or not os.path.isabs(path):
        return path
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """`target` as a hard link to `source` (no space; for immutable artifacts), else a copy (another
    filesystem); a `target` already there is kept."""
    import shutil

    target = Path(target)
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
