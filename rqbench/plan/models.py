"""The planner's model sharing: a variant that uses another variant's trained model (`model_from`), and the
joint task's re-ranker (`train.reranker_from`), as a mixin of the planner (`rqbench.plan._Planner`), which
supplies `suite`, `backend` and `checkpoint_of`.

A train node's checkpoint holds one folder per output of its task; which folder a backend loads follows
from the task that backend trains (`rqbench.training.tasks.SERVES`): a RocketQAv2 joint run serves its
`retriever/` to dense variants and its `reranker/` to cross-encoder variants, so

    [[variants]]
    name = "v2"                                   # trains both; evaluated as the retriever
    backend = "dense"
    train = { task = "joint", reranker_from = "mc", init_from = "md0", ... }
    [[variants]]
    name = "v2-reranker"                          # the same run's re-ranker
    backend = "cross-encoder"
    model_from = "v2"
    rerank = { run_of = "v2", depth = 50 }
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError
from rqbench.plan.values import Step
from rqbench.stages import Input
from rqbench.training.tasks import SERVES

if TYPE_CHECKING:
    from rqbench.suite import Suite, Variant

CROSS_ENCODER = "cross-encoder"


def served_part(task: str, backend: Any) -> str | None:
    """The folder of a `task` checkpoint that `backend` loads; None when that task trains no model for it."""
    return SERVES.get(task, {}).get(getattr(type(backend), "TRAINING_TASK", None) or "")


def served_edge(edge: Input, backend: Any, backend_name: str, key: str, source: str, where: str) -> Input:
    """`edge` (a train node's checkpoint) narrowed to the folder `backend` loads; a one-line error naming the
    suite key (`model_from`, `train.init_from`) when that training gives no model for the backend."""
    task = edge.node.params.task
    part = served_part(task, backend)
    if part is None:
        raise RqbenchError(f"{key} = '{source}': its training (task '{task}') gives no model for backend "
                           f"'{backend_name}'", where)
    return Input(edge.node, part)


class ModelSources:
    """Planner methods for models taken from other variants; see the module docstring."""

    suite: Suite
    _resolving: list[str]

    if TYPE_CHECKING:
        def backend(self, variant: Variant, override: dict[str, Any] | None = None) -> Any: ...
        def checkpoint_of(self, variant: Variant) -> tuple[Input, list[Step]] | None: ...

    def _model_from(self, variant: Variant) -> tuple[Input, list[Step]]:
        """The part of the `model_from` variant's checkpoint that `variant`'s backend loads, and its steps."""
        where = self.suite.where(variant.line)
        source = self.suite.reference(str(variant.model_from), variant)
        if variant.name in self._resolving:
            cycle = " -> ".join([*self._resolving[self._resolving.index(variant.name):], variant.name])
            raise RqbenchError(f"variants reference each other in a cycle: {cycle}", where)
        self._resolving.append(variant.name)
        try:
            found = self.checkpoint_of(source)
        finally:
            self._resolving.pop()
        if found is None:
            raise RqbenchError(f"model_from = '{source.name}': that variant trains no model (it has no "
                               "[variants.train] or model_from); name the model in params.model instead", where)
        edge, steps = found
        served = served_edge(edge, self.backend(variant), variant.backend, "model_from", source.name, where)
        return served, [("model_from:" + role, node) for role, node in steps]

    def _reranker_input(self, variant: Variant, table: dict[str, Any], hashed: dict[str, Any],
                        where: str) -> tuple[Input | None, list[Step]]:
        """The joint task's re-ranker to warm-start from: the `reranker_from` variant's trained cross-encoder
        (an input edge, named by its hash), or `reranker_model` (a model name or folder, in the settings)."""
        name = table.get("reranker_from")
        if name is None:
            if not hashed.get("reranker_model"):
                raise RqbenchError("train.task = 'joint' needs the re-ranker to start from: train.reranker_from "
                                   "(a variant that trains a cross-encoder) or train.reranker_model (a model)", where)
            return None, []
        if hashed.get("reranker_model"):
            raise RqbenchError("train.reranker_from and train.reranker_model: choose one re-ranker to start from",
                               where)
        source = self.suite.reference(str(name), variant)
        found = self.checkpoint_of(source)
        part = SERVES.get(found[0].node.params.task, {}).get(CROSS_ENCODER) if found else None
        if found is None or part is None:
            raise RqbenchError(f"train.reranker_from = '{source.name}': that variant trains no cross-encoder; name "
                               "one that does, or a model with train.reranker_model", where)
        return Input(found[0].node, part), [("reranker_from:" + role, node) for role, node in found[1]]
