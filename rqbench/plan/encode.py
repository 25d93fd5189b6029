"""The planner's corpus encoding as stages (`encode_parts = N` on a dense variant): N `encode` nodes, one part of
the corpus each (parallel jobs with an executor), and the `embeddings` node joining them, which the index reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.stages import STAGE_KINDS, Input, Node

if TYPE_CHECKING:
    from rqbench.data.dataset import Dataset
    from rqbench.plan.values import Step
    from rqbench.suite import Variant


class EncodeSteps:
    """Mixin of the planner: `add` and `stage_params`' use as in the planner itself."""

    add: Any

    def _encode(self, variant: Variant, backend: Any, index_params: dict[str, Any], dataset: Dataset,
                runtime: dict[str, Any], model_edge: Input | None, parts: int, where: str) -> tuple[Node, list[Step]]:
        """`encode_parts = N`: N `encode` nodes (one part of the corpus each) and the `embeddings` node joining
        them; named by the encoder's settings and the corpus only, so indexes of every kind share them."""
        from rqbench.plan.values import stage_params
        from rqbench.stages.encode import EmbeddingsParams, EncodeParams

        fields = getattr(type(backend.params), "ENCODE_FIELDS", ())
        encoder = {k: v for k, v in index_params.items() if k in fields}
        common = {"backend": variant.backend, "encoder": encoder, "describe": backend.describe(),
                  "corpus": dataset.fingerprint("corpus"), "parts": parts}
        nodes = [self.add(Node(STAGE_KINDS["encode"], stage_params(EncodeParams, where, part=i, **common),
                               {"model": model_edge} if model_edge else {}, dataset, runtime,
                               f"{variant.name} (part {i + 1}/{parts})", resumable=True)) for i in range(parts)]
        merged = self.add(Node(STAGE_KINDS["embeddings"], stage_params(EmbeddingsParams, where, parts=parts),
                               {f"part{i}": Input(n) for i, n in enumerate(nodes)}, dataset, {}, variant.name))
        return merged, [*((f"encode{i}", n) for i, n in enumerate(nodes)), ("embeddings", merged)]
