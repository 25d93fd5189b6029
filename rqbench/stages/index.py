"""index: a retriever backend indexes a dataset's corpus (Lucene for BM25, embeddings + faiss for dense).

With a `model` input (a trained checkpoint) the backend's `model` parameter is that checkpoint: the
index is named by the training artifact's hash, never by a path of this machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class IndexParams:
    backend: str  # registered backend name
    backend_params: dict[str, Any] = field(default_factory=dict)  # the params that decide the index
    describe: dict[str, Any] = field(default_factory=dict)  # backend.describe(): versions, model digests
    corpus: str = ""  # content fingerprint of the corpus


def produce(ctx: BuildContext) -> None:
    backend = ctx.services.backend(ctx)
    if ctx.has_input("embeddings"):  # encoded by `encode` stages: the index only builds its structure
        from rqbench.stages.encode import EMBEDDINGS_DIR

        backend.index(list(ctx.dataset.corpus.values()), ctx.out,
                      embeddings=ctx.input_path("embeddings") / EMBEDDINGS_DIR)
    else:
        backend.index(list(ctx.dataset.corpus.values()), ctx.out)


KIND = StageKind(
    name="index", version=1, inputs={"model": "checkpoint?", "embeddings": "embeddings?"}, output="index",
    Params=IndexParams,
    doc="index a dataset's corpus with a retriever backend (optionally a trained checkpoint)", produce=produce,
)
