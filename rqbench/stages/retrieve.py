"""retrieve: the top-`depth` documents of every query of one split, from an index."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rqbench.io import atomic_write_json
from rqbench.stages.base import BuildContext, StageKind
from rqbench.types import Run, ScoredDoc, normalize_run, write_trec_run

SEARCH_CHUNK = 1000  # queries per search call: the unit of progress, not of results
TIMING_FILE = "timing.json"  # {queries, load_seconds, search_seconds}: what a leaderboard's queries/s reads


@dataclass(frozen=True)
class RetrieveParams:
    split: str
    depth: int = 1000
    exclude_query_id: bool = False  # BEIR convention: drop a hit whose id is the query's id
    search_params: dict[str, Any] = field(default_factory=dict)  # the backend params that decide the search
    queries: str = ""  # content fingerprint of the split's queries


def produce(ctx: BuildContext) -> None:
    p: RetrieveParams = ctx.params
    backend = ctx.services.backend(ctx)
    index_dir = ctx.input_path("index")
    queries = ctx.dataset.split_queries(p.split)
    depth = p.depth + 1 if p.exclude_query_id else p.depth
    started = time.perf_counter()
    if queries:  # the first search opens the index (a JVM, a model): timed apart from the search itself
        backend.search(index_dir, queries[:1], depth)
    loaded = time.perf_counter()
    run: Run = {}
    with Progress(TextColumn("  retrieve {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=ctx.console, transient=True) as progress:
        task = progress.add_task(ctx.node.label, total=len(queries))
        for start in range(0, len(queries), SEARCH_CHUNK):
            chunk = queries[start:start + SEARCH_CHUNK]
            found = backend.search(index_dir, chunk, depth)
            for q in chunk:
                hits: list[ScoredDoc] = found.get(q.id, [])
                if p.exclude_query_id:
                    hits = [h for h in hits if h.docid != q.id]
                run[q.id] = hits[:p.depth]
            progress.advance(task, len(chunk))
    searched = time.perf_counter()
    write_trec_run(normalize_run(run, p.depth), ctx.out / "run.trec", tag=f"rqbench-{ctx.node.hash[:8]}")
    atomic_write_json(ctx.out / TIMING_FILE, {"queries": len(queries), "load_seconds": round(loaded - started, 3),
                                              "search_seconds": round(searched - loaded, 3)})


KIND = StageKind(
    name="retrieve", version=2, inputs={"index": "index"}, output="run", Params=RetrieveParams,
    doc="top-k documents per query of one split from an index", produce=produce,
)
