"""import: an external TREC run (a published system's, or one made elsewhere) becomes a run artifact.

The file is named by its content (sha256), not its path, so the artifact is the same on every machine;
the run is read and checked line by line, normalised (score order, docid tie-break) and cut to `depth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rqbench.stages.base import BuildContext, StageKind
from rqbench.types import normalize_run, read_trec_run, write_trec_run


@dataclass(frozen=True)
class ImportParams:
    run_sha256: str
    run_name: str = ""
    depth: int = 1000


def produce(ctx: BuildContext) -> None:
    p: ImportParams = ctx.params
    run = read_trec_run(Path(ctx.node.runtime["path"]))
    write_trec_run(normalize_run(run, p.depth), ctx.out / "run.trec", tag=f"rqbench-{ctx.node.hash[:8]}")


KIND = StageKind(
    name="import", version=1, inputs={}, output="run", Params=ImportParams,
    doc="an external TREC run file becomes a run artifact (named by its sha256)", produce=produce,
)
