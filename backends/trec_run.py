"""A retriever that replays a stored TREC run: published systems' runs become leaderboard rows, compared
per query with rqbench's own variants under the same measures and tests.

The run file is identified by its content (sha256), not its path, so the cache key is the same on every
machine. `path` may use `{data_root}` or `{suite_dir}`, which the pipeline fills in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from rqbench.errors import RqbenchError
from rqbench.types import Doc, Query, Run, read_trec_run


@dataclass(frozen=True)
class TrecRunParams:
    path: str = ""
    INDEX_FIELDS: ClassVar[tuple[str, ...]] = ()
    NOT_HASHED: ClassVar[tuple[str, ...]] = ("path",)  # the content hash in describe() stands for it


class TrecRunBackend:
    name = "trec-run"
    Params = TrecRunParams

    def __init__(self, params: TrecRunParams):
        if not params.path:
            raise RqbenchError("backend 'trec-run' needs params.path (a TREC run file)")
        self.params = params
        self.file = Path(params.path)
        if not self.file.is_file():
            raise RqbenchError("run file not found", self.file)

    @cached_property
    def _sha256(self) -> str:
        return hashlib.sha256(self.file.read_bytes()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"run_sha256": self._sha256, "run_name": self.file.name}

    def index(self, corpus: Sequence[Doc], workdir: Path) -> None:
        """Nothing to build: the run is the retrieval result. The artifact records which run it was."""
        (workdir / "source.txt").write_text(f"{self.file.name} sha256:{self._sha256}\n", encoding="utf-8")

    def search(self, index_dir: Path, queries: Sequence[Query], k: int) -> Run:
        run = read_trec_run(self.file)
        return {q.id: run.get(q.id, [])[:k] for q in queries}
