"""encode and embeddings: a dense retriever's corpus embeddings as stages of their own (`encode_parts = N`).

`encode` is one part of N: the shards `i % N == part` of the corpus in `encode_corpus`'s length order, each
part its own node (its own job with an executor: parts run in parallel, and a killed part is rebuilt alone).
`embeddings` assembles the parts into the embeddings folder an index reads (byte for byte what one process
encoding everything would write). The embeddings are named by the encoder and the corpus only, so every index
built from them (flat, HNSW, IVF-PQ) and every suite with the same encoder and corpus shares them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rqbench.stages.base import BuildContext, StageKind

MAX_PARTS = 64


@dataclass(frozen=True)
class EncodeParams:
    backend: str
    encoder: dict[str, Any] = field(default_factory=dict)  # the backend params that decide the embeddings
    describe: dict[str, Any] = field(default_factory=dict)  # versions, model digests
    corpus: str = ""  # content fingerprint of the corpus
    part: int = 0
    parts: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.parts <= MAX_PARTS or not 0 <= self.part < self.parts:
            raise ValueError(f"encode part must be in [0, parts) with 1 <= parts <= {MAX_PARTS}, got {self.part} "
                             f"of {self.parts}")


@dataclass(frozen=True)
class EmbeddingsParams:
    parts: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.parts <= MAX_PARTS:
            raise ValueError(f"embeddings parts must be in [1, {MAX_PARTS}], got {self.parts}")


PART_DIR = "shards"  # a part's shards, order and manifest (the artifact's own manifest.json is the store's)
EMBEDDINGS_DIR = "embeddings"  # the assembled embeddings.f32 + embeddings.json


def produce_part(ctx: BuildContext) -> None:
    p: EncodeParams = ctx.params
    ctx.services.backend(ctx).encode_part(list(ctx.dataset.corpus.values()), ctx.out / PART_DIR, p.part, p.parts)


def produce_embeddings(ctx: BuildContext) -> None:
    from rqbench.dense.encoding import assemble_parts

    p: EmbeddingsParams = ctx.params
    assemble_parts([ctx.input_path(f"part{i}") / PART_DIR for i in range(p.parts)], ctx.out / EMBEDDINGS_DIR)


KIND = StageKind(
    name="encode", version=1, inputs={"model": "checkpoint?"}, output="embeddings", Params=EncodeParams,
    doc="encode one part of a corpus with a dense retriever's encoder (encode_parts = N)", produce=produce_part,
    resumable=True,
)

EMBEDDINGS_KIND = StageKind(
    name="embeddings", version=1, output="embeddings",
    inputs={f"part{i}": "embeddings" if i == 0 else "embeddings?" for i in range(MAX_PARTS)},
    Params=EmbeddingsParams, doc="assemble a corpus's encoded parts into the embeddings every index reads",
    produce=produce_embeddings,
)
