"""Content-addressed artifact store.

An artifact (index, run, metrics) lives at `<store>/<kind>/<hash[:2]>/<hash>/` with a `manifest.json`
(kind, config, inputs, build time, environment). The hash covers the stage's resolved config and its
inputs' hashes, so equal work is found again by any suite or variant. A build happens in
`<store>/tmp/` under a per-hash lock and is renamed into place only when complete: a killed run leaves
no half artifact behind, and two concurrent runs never build the same artifact twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rqbench.io import atomic_write_json, file_lock

MANIFEST = "manifest.json"


def stable_hash(data: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace): the same config hashes the same everywhere."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def default_store() -> Path:
    return Path(os.environ.get("RQBENCH_STORE", ".rqbench/store"))


class ArtifactStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_store()

    def path(self, kind: str, digest: str) -> Path:
        return self.root / kind / digest[:2] / digest

    def exists(self, kind: str, digest: str) -> bool:
        return (self.path(kind, digest) / MANIFEST).is_file()

    def manifest(self, kind: str, digest: str) -> dict[str, Any]:
        return json.loads((self.path(kind, digest) / MANIFEST).read_text(encoding="utf-8"))

    def build(self, kind: str, digest: str, manifest: dict[str, Any], produce: Callable[[Path], None],
              overwrite: bool = False, resumable: bool = False) -> tuple[Path, bool]:
        """Return (artifact folder, built_now). `produce(tmpdir)` fills the folder; it becomes the
        artifact only if it returns normally. With `overwrite` an existing artifact is rebuilt.

        `resumable`: the producer can continue from what an interrupted attempt left (encoding shards,
        training checkpoints), so the same work folder `tmp/<hash>-resume` is handed to every attempt
        instead of a fresh one. The per-hash lock guarantees one attempt at a time."""
        final = self.path(kind, digest)
        with file_lock(self.root / "locks" / f"{digest}.lock"):
            if self.exists(kind, digest) and not overwrite:
                return final, False
            tmp_root = self.root / "tmp"
            resume_dir = tmp_root / f"{digest}-resume"
            for stale in tmp_root.glob(f"{digest}-*"):  # left by a killed build of this artifact
                if not (resumable and stale == resume_dir and not overwrite):
                    shutil.rmtree(stale, ignore_errors=True)
            tmp = resume_dir if resumable else tmp_root / f"{digest}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir(parents=True, exist_ok=resumable)
            started = time.perf_counter()
            try:
                produce(tmp)
                atomic_write_json(tmp / MANIFEST, {
                    **manifest, "kind": kind, "hash": digest,
                    "built_seconds": round(time.perf_counter() - started, 3),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                })
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
