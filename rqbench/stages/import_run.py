"""import: an external TREC run (a published system's, or one made elsewhere) becomes a run artifact.

The file is named by its content (sha256), not its path, so the artifact is the same on every machine;
the run is read and checked line by line, restricted to the split's queries (none covered is an error),
normalised (score order, docid tie-break) and cut to `depth`; `exclude_query_id` as in `retrieve`.
A run that leaves judged queries of the split unanswered is an error naming the counts unless the variant
says `allow_partial = true` (those queries then score 0, as with `rqbench eval --allow-partial`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rqbench.errors import RqbenchError
from rqbench.stages.base import BuildContext, StageKind
from rqbench.types import normalize_run, read_trec_run, write_trec_run


@dataclass(frozen=True)
class ImportParams:
    run_sha256: str
    split: str
    run_name: str = ""
    depth: int = 1000
    exclude_query_id: bool = False  # as `retrieve`: drop a hit whose id is the query's id
    queries: str = ""  # content fingerprint of the split's queries
    allow_partial: bool = False  # accept a run that leaves judged queries unanswered (they score 0)


def produce(ctx: BuildContext) -> None:
    p: ImportParams = ctx.params
    path = Path(ctx.node.runtime["path"])
    if hashlib.sha256(path.read_bytes()).hexdigest() != p.run_sha256:
        raise RqbenchError("the run file changed since the suite was planned; run again", path)
    run = read_trec_run(path)
    queries = ctx.dataset.split_queries(p.split)
    covered = [q.id for q in queries if q.id in run]
    if not covered:
        raise RqbenchError(f"the run has none of the {len(queries)} queries of split '{p.split}' of "
                           f"'{ctx.dataset.name}' (restrict the variant with evaluate_on)", path)
    judged = ctx.dataset.qrels.get(p.split) or {}
    answered = sum(1 for qid in judged if qid in run)
    if answered < len(judged):
        counts = (f"the run answers {answered} of the {len(judged)} judged queries of split '{p.split}' of "
                  f"'{ctx.dataset.name}'")
        if not p.allow_partial:
            raise RqbenchError(counts + "; set allow_partial = true in the variant's params to score the others 0",
                               path)
        ctx.console.print(f"note: {counts}; the others score 0 (allow_partial)")
    kept = {qid: [h for h in run[qid] if not (p.exclude_query_id and h.docid == qid)] for qid in covered}
    write_trec_run(normalize_run(kept, p.depth), ctx.out / "run.trec", tag=f"rqbench-{ctx.node.hash[:8]}")


KIND = StageKind(
    name="import", version=3, inputs={}, output="run", Params=ImportParams,
    doc="an external TREC run file becomes a run artifact (named by its sha256)", produce=produce,
)
