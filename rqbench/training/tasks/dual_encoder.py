"""The dual-encoder task: contrastive training on (query, positive, negatives) groups (RocketQA, DPR).

Owns what is specific to the dual encoder; the loop (`rqbench.training.loop`) does the rest. Per
micro-batch each process encodes its queries and its passage pool (one positive per query, then
`hard_negatives_per_query` negatives per query, chosen by `negative_sampling`: see `batches`), and the
loss is the softmax cross-entropy of each query's positive over

* its own process's pool (``negatives="in-batch"``; DPR, arXiv 2004.04906), divided by the world size so
  that the summed gradients average over processes; or
* the pools of every process, all-gathered (``negatives="cross-batch"``; RocketQA, arXiv 2010.08191,
  section 4.1), which needs two processes or more: with one it would silently be in-batch, so it is an
  error.

A query's other judged positives found in the pool (two queries sharing a relevant document in one
batch) are excluded from its softmax rather than used as negatives. The output is ``model/``, written
with `DualEncoder.save` (an HF folder plus ``rqbench_encoder.json``). With `grad_cache_chunk` the loop takes
the step's gradient through `cached_backward` (GradCache: the same loss and gradient, activations of one chunk
of texts at a time), which composes with cross-batch negatives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch

from rqbench.errors import RqbenchError
from rqbench.models.dual_encoder import DualEncoder, EncoderConfig
from rqbench.training.batches import BatchPlan, LocalBatch
from rqbench.training.distributed import DistEnv, to_device
from rqbench.training.grad_cache import cached_backward
from rqbench.training.losses import cross_batch_loss, in_batch_loss
from rqbench.training.tasks.groups_task import GroupsTask

CROSS_BATCH_NEEDS_PROCESSES = ("cross-batch negatives need nproc >= 2 "
                               "(with one process they are in-batch negatives)")


class DualEncoderTask(GroupsTask):
    name = "dual-encoder"
    outputs = ("model",)

    def plan(self, world_size: int) -> BatchPlan:
        if self.config.negatives == "cross-batch" and world_size < 2:
            raise RqbenchError(CROSS_BATCH_NEEDS_PROCESSES)
        return self.batch_plan(world_size)

    def summary(self) -> str:
        return f"{len(self.groups)} groups, {self.config.negatives} negatives"

    def load_model(self, init: Path | None) -> DualEncoder:
        if init is None:
            return DualEncoder.for_training(self.config.model, self.config)
        model = DualEncoder.load(str(init / "model"))  # a checkpoint of this run: its towers as saved
        model.config = EncoderConfig.from_spec(self.config, shared=model.config.shared)
        return model

    def loss(self, model: DualEncoder, batch: LocalBatch, env: DistEnv) -> torch.Tensor:
        q = self._encoder(model, "query", env)(batch.queries)
        p = self._encoder(model, "passage", env)(self.passage_strings(batch.pool))
        return self._contrastive(q, p, batch, env)

    def cached_backward(self, model: DualEncoder, batch: LocalBatch, env: DistEnv, chunk: int, divisor: int,
                        backward: Callable[[torch.Tensor], None],
                        forward_context: Callable[[], contextlib.AbstractContextManager]) -> float:
        """The gradient of `loss(...) / divisor` accumulated with cached-gradient chunks of `chunk` texts
        (`rqbench.training.grad_cache`; the loop's `grad_cache_chunk`); returns that loss's value."""
        sides = [(self._encoder(model, "query", env), list(batch.queries)),
                 (self._encoder(model, "passage", env), self.passage_strings(batch.pool))]
        return cached_backward(sides, chunk, lambda q, p: self._contrastive(q, p, batch, env) / divisor, backward,
                               env.device, forward_context)

    @staticmethod
    def _encoder(model: DualEncoder, side: Literal["query", "passage"], env: DistEnv) -> Callable:
        return lambda texts: model(to_device(model.tokenize(texts, side), env.device), side)

    def _contrastive(self, q: torch.Tensor, p: torch.Tensor, batch: LocalBatch, env: DistEnv) -> torch.Tensor:
        device = env.device
        pos_index = torch.tensor(batch.pos_index, dtype=torch.long, device=device)
        cross = self.config.negatives == "cross-batch"
        pool_ids = batch.global_pool_ids if cross else [x.id for x in batch.pool]
        exclude = torch.tensor([[pid in positives for pid in pool_ids] for positives in batch.query_positive_ids],
                               dtype=torch.bool, device=device)
        if cross:
            return cross_batch_loss(q, p, pos_index, None, self.config.scale, exclude, grad_reduction="sum")
        # in-batch negatives on several processes: the local mean, scaled so that summed gradients average
        return in_batch_loss(q, p, pos_index, self.config.scale, exclude) / env.world_size

    def save(self, model: DualEncoder, folder: Path) -> None:
        model.save(folder / "model")
