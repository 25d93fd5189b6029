"""Content-addressed artifact store.

An artifact (index, run, metrics) lives at `<store>/<kind>/<hash[:2]>/<hash>/` with a `manifest.json`
(kind, config, inputs, build time, environment, and `files`: every file of the folder with its size,
mtime and sha256). The hash covers the stage's resolved config and its inputs' hashes, so equal work is
found again by any suite or variant. A build happens in `<store>/tmp/` under a per-hash lock and is
renamed into place only when complete: a killed run leaves no half artifact behind, and two concurrent
runs never build the same artifact twice.

An artifact is verified before it is reused: every listed file must exist with its recorded size and
mtime (a changed mtime falls back to the file's digest), or, with `verify=True`, its recorded sha256. A
damaged artifact (or one built before files were recorded) is reported in one line, moved aside to
`<store>/damaged/` (never deleted silently) and rebuilt. Reuse takes no lock, so a read-only store that
holds every needed artifact can be used; the lock is taken only to build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rqbench.env import build_environment
from rqbench.errors import EnvironmentFault
from rqbench.io import atomic_write_json

MANIFEST = "manifest.json"
# store folders that hold no artifacts (models: converted official models, see rqbench.models.rocketqa_import;
# jobs: the submitit executor's logs and pickles)
RESERVED = ("tmp", "locks", "damaged", "live", "models", "jobs")
STORE_MARKER = "rqbench-store.json"  # written into a store's root by its first build: what `store gc` trusts
UNVERIFIABLE = "built by an older rqbench (no file digests)"


def stable_hash(data: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace): the same config hashes the same everywhere."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def default_store() -> Path:
    return Path(os.environ.get("RQBENCH_STORE", ".rqbench/store"))


def os_reason(exc: OSError) -> str:
    """'read-only file system', 'permission denied', ...: the OS error in a few lowercase words."""
    return (exc.strerror or type(exc).__name__).lower()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, streamed (indexes can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def describe_files(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {size, mtime_ns, sha256}} of every file under `folder` (recursively, in sorted
    order), except the top-level manifest.json. Symlinks are followed; dangling ones are skipped."""
    files: dict[str, dict[str, Any]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if rel == MANIFEST:
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            files[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file_sha256(path)}
    return files


def check_files(folder: Path, files: dict[str, Any], full: bool) -> tuple[str | None, dict[str, int]]:
    """(first problem or None, {path: new mtime_ns} of files whose mtime changed but whose digest matched).

    Fast (`full=False`): each listed file exists with its recorded size and mtime; a changed mtime alone
    falls back to that file's digest. Full: every file's sha256. Extra files are allowed."""
    touched: dict[str, int] = {}
    for rel, entry in files.items():
        path = folder / rel
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return f"{rel}: missing", touched
        except OSError as exc:
            return f"{rel}: unreadable ({os_reason(exc)})", touched
        if not stat.S_ISREG(st.st_mode):
            return f"{rel}: not a file", touched
        if st.st_size != entry["size"]:
            return f"{rel}: size {st.st_size} != recorded {entry['size']}", touched
        if full or st.st_mtime_ns != entry["mtime_ns"]:
            try:
                digest = file_sha256(path)
            except OSError as exc:
                return f"{rel}: unreadable ({os_reason(exc)})", touched
            if digest != entry["sha256"]:
                return f"{rel}: sha256 {digest[:12]}... != recorded {entry['sha256'][:12]}...", touched
            if st.st_mtime_ns != entry["mtime_ns"]:
                touched[rel] = st.st_mtime_ns
    return None, touched


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (os.umask can only set it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share_modes(folder: Path) -> None:
    """Give every file and folder under `folder` the mode a plain open()/mkdir() would under the umask
    (0644/0755 under 022): mkstemp, mkdtemp and transformers' safetensors writer make them private (0600),
    which leaves a store shared on a cluster unreadable to colleagues. Symlinks are left alone, and so is a
    file this user may not chmod (another user's, resumed from a shared tmp folder)."""
    mask = current_umask()
    _share_mode(str(folder), mask)
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in (*dirnames, *filenames):
            _share_mode(os.path.join(dirpath, name), mask)


def _share_mode(path: str, mask: int) -> None:
    st = os.lstat(path)
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return  # a symlink (its target is not ours to change), a socket, ...
    executable = stat.S_ISDIR(st.st_mode) or st.st_mode & stat.S_IXUSR
    wanted = (0o777 if executable else 0o666) & ~mask
    if stat.S_IMODE(st.st_mode) != wanted:
        with contextlib.suppress(PermissionError):
            os.chmod(path, wanted)


@dataclass(frozen=True)
class Check:
    """The state of one artifact: "ok", "absent", "damaged" or "unverifiable" (built before file digests)."""

    state: str
    problem: str = ""
    touched: dict[str, int] = field(default_factory=dict)  # files whose mtime changed, content intact

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def _print_warning(message: str) -> None:
    print(f"rqbench: warning: {message}", file=sys.stderr, flush=True)


class ArtifactStore:
    """`verify`: reuse checks every file's sha256 (default: sizes and mtimes). `on_damage(line)` is told
    about each damaged or unverifiable artifact set aside for a rebuild (default: a warning on stderr)."""

    def __init__(self, root: str | Path | None = None, *, verify: bool = False,
                 on_damage: Callable[[str], None] | None = None):
        self.root = Path(root) if root is not None else default_store()
        self.verify = verify
        self.on_damage = on_damage or _print_warning

    def path(self, kind: str, digest: str) -> Path:
        return self.root / kind / digest[:2] / digest

    def lock_path(self, digest: str) -> Path:
        return self.root / "locks" / f"{digest}.lock"

    def exists(self, kind: str, digest: str) -> bool:
        """The artifact is there and intact (fast check, or every digest with `verify`): it would be reused."""
        return self.check(kind, digest).ok

    def manifest(self, kind: str, digest: str) -> dict[str, Any]:
        return json.loads((self.path(kind, digest) / MANIFEST).read_text(encoding="utf-8"))

    def check(self, kind: str, digest: str, full: bool | None = None) -> Check:
        """Whether the artifact can be reused; `full` (default: the store's `verify`) checks every digest."""
        folder = self.path(kind, digest)
        manifest_path = folder / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            if folder.is_dir():
                return Check("damaged", f"{MANIFEST}: missing")
            return Check("absent")
        except json.JSONDecodeError as exc:
            return Check("damaged", f"{MANIFEST}: invalid JSON ({exc.msg})")
        except (OSError, UnicodeDecodeError) as exc:
            reason = os_reason(exc) if isinstance(exc, OSError) else "not UTF-8"
            return Check("damaged", f"{MANIFEST}: unreadable ({reason})")
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if files is None:
            return Check("unverifiable", UNVERIFIABLE)
        if not isinstance(files, dict) or not all(
                isinstance(e, dict) and {"size", "mtime_ns", "sha256"} <= e.keys() for e in files.values()):
            return Check("damaged", f"{MANIFEST}: invalid file list")
        problem, touched = check_files(folder, files, self.verify if full is None else full)
        return Check("damaged", problem) if problem else Check("ok", touched=touched)

    def artifacts(self) -> Iterator[tuple[str, str, Path]]:
        """(kind, hash, folder) of every artifact folder in the store, intact or not, in sorted order."""
        if not self.root.is_dir():
            return
        for kind_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and p.name not in RESERVED):
            for prefix in sorted(p for p in kind_dir.iterdir() if p.is_dir() and len(p.name) == 2):
                for folder in sorted(p for p in prefix.iterdir() if p.is_dir() and p.name.startswith(prefix.name)):
                    yield kind_dir.name, folder.name, folder

    def build(self, kind: str, digest: str, manifest: dict[str, Any], produce: Callable[[Path], None],
              overwrite: bool = False, resumable: bool = False) -> tuple[Path, bool]:
        """Return (artifact folder, built_now). `produce(tmpdir)` fills the folder; it becomes the
        artifact only if it returns normally. With `overwrite` an existing artifact is rebuilt. An
        existing artifact is reused only if intact (see `check`); a damaged one is reported, moved aside
        to `damaged/` and rebuilt. Reuse takes no lock (a read-only store works); building does.

        `resumable`: the producer can continue from what an interrupted attempt left (encoding shards,
        training checkpoints), so the same work folder `tmp/<hash>-resume` is handed to every attempt
        instead of a fresh one. The per-hash lock guarantees one attempt at a time."""
        final = self.path(kind, digest)
        if not overwrite:
            found = self.check(kind, digest)
            if found.ok:
                self._refresh_mtimes(final, found.touched)
                return final, False
        with self._lock(digest):
            if not overwrite:
                found = self.check(kind, digest)  # again: another process may have built it meanwhile
                if found.ok:
                    self._refresh_mtimes(final, found.touched)
                    return final, False
                if found.state != "absent":
                    self._set_aside(kind, digest, found)
            tmp_root = self.root / "tmp"
            resume_dir = tmp_root / f"{digest}-resume"
            for stale in tmp_root.glob(f"{digest}-*"):  # left by a killed build of this artifact
                if not (resumable and stale == resume_dir and not overwrite):
                    shutil.rmtree(stale, ignore_errors=True)
            tmp = resume_dir if resumable else tmp_root / f"{digest}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            with _fault(tmp, "cannot create"):
                tmp.mkdir(parents=True, exist_ok=resumable)
            started = time.perf_counter()
            try:
                produce(tmp)
                built_seconds = round(time.perf_counter() - started, 3)
                with _fault(tmp, "cannot finish the artifact"):
                    share_modes(tmp)
                    files = describe_files(tmp)
                    atomic_write_json(tmp / MANIFEST, {
                        "environment": build_environment(),
                        **manifest, "kind": kind, "hash": digest, "built_seconds": built_seconds,
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files,
                    })
                with _fault(final, "cannot move the artifact into place"):
                    final.parent.mkdir(parents=True, exist_ok=True)
                    if final.exists():  # overwrite: move the old one aside first, then drop it
                        old = tmp_root / f"old-{digest}-{uuid.uuid4().hex[:8]}"
                        os.replace(final, old)
                        shutil.rmtree(old, ignore_errors=True)
                    os.replace(tmp, final)
            except BaseException:
                if not resumable:  # a resumable attempt keeps its partial work for the next one
                    shutil.rmtree(tmp, ignore_errors=True)
                raise
        return final, True

    def _set_aside(self, kind: str, digest: str, found: Check) -> Path:
        """Move a damaged or unverifiable artifact to `damaged/<kind>-<hash>-<time>` and report it."""
        final = self.path(kind, digest)
        aside = self.root / "damaged" / f"{kind}-{digest}-{time.strftime('%Y%m%dT%H%M%S')}"
        if aside.exists():
            aside = aside.with_name(f"{aside.name}-{uuid.uuid4().hex[:8]}")
        with _fault(aside, "cannot move a damaged artifact aside"):
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(final, aside)
        if found.state == "unverifiable":
            self.on_damage(f"{final}: {UNVERIFIABLE}: rebuilding (old copy in {aside})")
        else:
            self.on_damage(f"damaged artifact {final}: {found.problem}; moved to {aside}, rebuilding")
        return aside

    @staticmethod
    def _refresh_mtimes(folder: Path, touched: dict[str, int]) -> None:
        """Record new mtimes of files whose content matched, so the next fast check need not digest them
        again. Best effort: a read-only store (or a folder moved meanwhile) is left as it is."""
        if not touched:
            return
        tmp = folder / f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            for rel, mtime_ns in touched.items():
                manifest["files"][rel]["mtime_ns"] = mtime_ns
            with open(tmp, "x", encoding="utf-8") as fh:
                fh.write(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
            os.replace(tmp, folder / MANIFEST)
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                tmp.unlink()

    @contextlib.contextmanager
    def _lock(self, digest: str) -> Iterator[None]:
        """The per-hash build lock (flock; released when the process dies). A store where it cannot be
        created (read-only, a file where the locks folder should be) is an EnvironmentFault (exit 3)."""
        path = self.lock_path(digest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not (self.root / STORE_MARKER).exists():
                atomic_write_json(self.root / STORE_MARKER, {"rqbench_store": 1})
            fh = path.open("a")
        except OSError as exc:
            reason = os_reason(exc)
            if isinstance(exc, FileExistsError | NotADirectoryError) and not path.parent.is_dir():
                reason = f"{path.parent.name} is not a folder"
            raise EnvironmentFault(f"cannot write ({reason})", path) from exc
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _fault(path: Path, doing: str) -> Iterator[None]:
    """Turn an OSError of the store's own bookkeeping into one line: '<path>: cannot write (read-only ...)'."""
    try:
        yield
    except OSError as exc:
        raise EnvironmentFault(f"{doing} ({os_reason(exc)})", path) from exc
