"""An external TREC run as a system: published systems' runs become leaderboard rows, compared per query
with rqbench's own variants under the same measures and tests.

Nothing is indexed or searched: the planner turns a variant of this backend into an `import` stage,
which reads the file (checked line by line), identified by its content (sha256), not its path, so the
artifact is the same on every machine. `path` may use `{data_root}` or `{suite_dir}`, which the planner
fills in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from rqbench.errors import RqbenchError
from rqbench.types import Run, read_trec_run


@dataclass(frozen=True)
class TrecRunParams:
    path: str = ""
    allow_partial: bool = False  # a run that leaves judged queries unanswered is accepted; they score 0
    INDEX_FIELDS: ClassVar[tuple[str, ...]] = ()
    NOT_HASHED: ClassVar[tuple[str, ...]] = ("path", "allow_partial")  # the import stage hashes both


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

    def read_run(self) -> Run:
        """The run as stored (the `import` stage normalises and cuts it to the variant's depth)."""
        return read_trec_run(self.file)
