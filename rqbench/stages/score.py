"""score: a cross-encoder's score of every (query, document) among the top-`depth` of a run.

Output `scores.tsv`: one line per pair, ``query id <TAB> document id <TAB> logit``, queries in the split's
order and each query's documents in the run's rank order; sigmoid(logit) is P(relevant), what denoising
and augmentation threshold. The re-ranked run (`rerank`), the denoised negatives (`denoise`) and the
pseudo-labels (`augment`) are all read from it, so each pair is scored once.

Resumable: queries are scored in fixed chunks of about `CHUNK_PAIRS` pairs, each appended (flushed and
fsynced) to ``scores.partial.tsv`` in the work folder as it finishes; a killed attempt's finished chunks
are kept and the next attempt continues after them (a torn last line is dropped). The chunks are cut the
same way every time, so a resumed artifact equals an uninterrupted one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rqbench.io import atomic_write_text
from rqbench.stages.base import BuildContext, StageKind

SCORES_FILE = "scores.tsv"
PARTIAL_FILE = "scores.partial.tsv"
CHUNK_PAIRS = 2048  # pairs per scoring call: the unit of resumption and of progress
CHUNK_ENV = "RQBENCH_SCORE_CHUNK"  # overrides CHUNK_PAIRS (tests; keep it fixed across attempts of one build)


@dataclass(frozen=True)
class ScoreParams:
    split: str
    depth: int = 50  # the top-`depth` documents of each query are scored
    backend: str = "cross-encoder"
    backend_params: dict[str, Any] = field(default_factory=dict)  # the hashed params (model: see describe)
    describe: dict[str, Any] = field(default_factory=dict)  # versions, model digests (none with a model input)
    corpus: str = ""  # content fingerprints
    queries: str = ""

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"score depth must be >= 1, got {self.depth}")


def read_scores(path: Path) -> dict[str, dict[str, float]]:
    """{query id: {document id: logit}} from a scores file (a partial file's torn last line is skipped)."""
    out: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn by a kill: that chunk is redone
            qid, docid, value = line.rstrip("\n").split("\t")
            out.setdefault(qid, {})[docid] = float(value)
    return out


def chunks(work: list[tuple[str, list[str]]], size: int) -> list[list[tuple[str, list[str]]]]:
    """Consecutive queries grouped into chunks of about `size` pairs (never splitting a query)."""
    out: list[list[tuple[str, list[str]]]] = []
    current: list[tuple[str, list[str]]] = []
    pairs = 0
    for qid, docids in work:
        current.append((qid, docids))
        pairs += len(docids)
        if pairs >= size:
            out.append(current)
            current, pairs = [], 0
    if current:
        out.append(current)
    return out


def produce(ctx: BuildContext) -> None:
    from rqbench.types import read_trec_run
    from rqbench_backends.cross_encoder import pair_text

    p: ScoreParams = ctx.params
    backend = ctx.services.backend(ctx)
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    queries = {q.id: q.text for q in ctx.dataset.split_queries(p.split)}
    corpus = ctx.dataset.corpus
    work = [(qid, [h.docid for h in run.get(qid, [])[:p.depth]]) for qid in queries]
    partial = ctx.out / PARTIAL_FILE
    size = int(os.environ.get(CHUNK_ENV) or CHUNK_PAIRS)
    done = _keep_whole_chunks(partial, work, size)
    todo = [c for c in chunks(work, size) if c[0][0] not in done]
    total = sum(len(d) for _, d in work)
    with Progress(TextColumn("  score {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=ctx.console, transient=True) as progress:
        bar = progress.add_task(ctx.node.label, total=total, completed=total - sum(len(d) for c in todo for _, d in c))
        for chunk in todo:
            pairs = [(queries[qid], pair_text(corpus[d], backend.params.use_title)) for qid, docids in chunk
                     for d in docids]
            logits = backend.score_pairs(pairs) if pairs else []
            ids = [(qid, d) for qid, docids in chunk for d in docids]
            lines = "".join(f"{qid}\t{d}\t{float(s)!r}\n" for (qid, d), s in zip(ids, logits, strict=True))
            with open(partial, "a", encoding="utf-8") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
            progress.advance(bar, len(ids))
    os.replace(partial, ctx.out / SCORES_FILE)


def _keep_whole_chunks(partial: Path, work: list[tuple[str, list[str]]], size: int) -> set[str]:
    """First query ids of the chunks a killed attempt finished; the partial file is cut back to them."""
    if not partial.exists():
        return set()
    found = read_scores(partial)
    done: set[str] = set()
    lines: list[str] = []
    for chunk in chunks(work, size):
        if not all(len(found.get(qid, {})) == len(docids) for qid, docids in chunk):  # no hits: nothing to find
            break
        done.add(chunk[0][0])
        lines += [f"{qid}\t{d}\t{found[qid][d]!r}\n" for qid, docids in chunk for d in docids]
    atomic_write_text(partial, "".join(lines))  # a kill while cutting back keeps the old file
    return done


KIND = StageKind(
    name="score", version=1, inputs={"run": "run", "model": "checkpoint?"}, output="scores", Params=ScoreParams,
    doc="a cross-encoder's logit for each query's top-depth documents of a run; resumable", produce=produce,
    resumable=True,
)
