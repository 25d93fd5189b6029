"""Which training groups go into which step, on which process, with which positive and negatives.

Owns the data order. Everything here is a pure function of (seed, epoch, group index), so

* every process computes the same order of *global* batches (batch_size x world size groups) and takes
  its own slice (rank r: positions r*B .. r*B+B-1 of each global batch): no sampler state to share;
* a resumed run sees exactly the batches the interrupted run would have seen (the position is
  recomputed from the step number);
* each process also knows what the other processes put in the pool, which is how the trainer masks a
  query's other judged positives in the gathered (cross-batch) pool without any communication.

Epochs are shuffled with `random.Random(f"{seed}:order:{epoch}")`; an epoch keeps only whole optimizer
steps (the last incomplete global batches are dropped, so every step's negative pool has the same
size). Per group and epoch, one positive is sampled (RocketQA and DPR train on one positive per query)
and `h` hard negatives from the group's negatives, which are a candidate pool in rank order (usually more
than `h`): with ``negative_sampling="random"`` sampled without replacement, afresh each epoch; with
``"top"`` the first `h`, the same every epoch. Either way a group with fewer than `h` negatives is topped
up with repeats of its own, and with none at all other groups' positives stand in (random negatives).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rqbench.errors import RqbenchError
from rqbench.training.groups import Passage, TrainingGroup


@dataclass(frozen=True)
class LocalBatch:
    """One process's micro-batch: its queries, its passage pool (positives, then hard negatives)."""

    query_ids: list[str]
    queries: list[str]
    pool: list[Passage]
    pos_index: list[int]  # into `pool`
    query_positive_ids: list[frozenset[str]]  # every judged positive of each query (for the exclude mask)
    global_pool_ids: list[str]  # the passage ids of every process's pool, in rank order


class BatchPlan:
    """The seeded order of global batches over `groups` for a run of `world_size` processes."""

    def __init__(self, groups: list[TrainingGroup], batch_size: int, world_size: int, grad_accumulation: int,
                 epochs: int, max_steps: int, hard_negatives: int, seed: int,
                 negative_sampling: Literal["random", "top"] = "random"):
        if negative_sampling not in ("random", "top"):
            raise ValueError(f"negative_sampling must be 'random' or 'top', got {negative_sampling!r}")
        self.groups = groups
        self.negative_sampling = negative_sampling
        self.batch_size = batch_size
        self.world_size = world_size
        self.grad_accumulation = grad_accumulation
        self.hard_negatives = hard_negatives
        self.seed = seed
        self.global_batch = batch_size * world_size
        self.micro_per_epoch = len(groups) // self.global_batch
        self.steps_per_epoch = self.micro_per_epoch // grad_accumulation
        if self.steps_per_epoch == 0:
            raise RqbenchError(
                f"{len(groups)} training groups are fewer than one optimizer step needs "
                f"(batch_size {batch_size} x {world_size} processes x grad_accumulation {grad_accumulation})")
        self.total_steps = max_steps if max_steps > 0 else self.steps_per_epoch * epochs
        self._order = lru_cache(maxsize=2)(self._epoch_order)

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def _epoch_order(self, epoch: int) -> list[int]:
        order = list(range(len(self.groups)))
        random.Random(f"{self.seed}:order:{epoch}").shuffle(order)
        return order

    def global_indices(self, step: int, micro: int) -> list[int]:
        """Group indices of the global batch for micro-batch `micro` of optimizer step `step`."""
        epoch = self.epoch_of(step)
        position = (step % self.steps_per_epoch) * self.grad_accumulation + micro
        order = self._order(epoch)
        return order[position * self.global_batch:(position + 1) * self.global_batch]

    def sample(self, index: int, epoch: int) -> tuple[Passage, list[Passage]]:
        """(positive, hard negatives) of group `index` in `epoch`: a pure function of (seed, epoch, index)."""
        group = self.groups[index]
        rng = random.Random(f"{self.seed}:sample:{epoch}:{index}")
        positive = group.positives[rng.randrange(len(group.positives))]
        h = self.hard_negatives
        if h == 0:
            return positive, []
        negatives = list(group.negatives)
        if len(negatives) >= h:
            return positive, (negatives[:h] if self.negative_sampling == "top" else rng.sample(negatives, h))
        if negatives:
            return positive, negatives + rng.choices(negatives, k=h - len(negatives))
        own = {p.id for p in group.positives}
        stand_ins: list[Passage] = []
        for _ in range(100 * h):
            other = self.groups[rng.randrange(len(self.groups))]
            candidate = other.positives[rng.randrange(len(other.positives))]
            if candidate.id not in own:
                stand_ins.append(candidate)
                if len(stand_ins) == h:
                    break
        if len(stand_ins) < h:
            raise RqbenchError(f"query '{group.query_id}' has no negatives and no other group's positive can "
                               "stand in; set hard_negatives_per_query to 0")
        return positive, stand_ins

    def local_batch(self, step: int, micro: int, rank: int) -> LocalBatch:
        epoch = self.epoch_of(step)
        indices = self.global_indices(step, micro)
        pools: list[list[Passage]] = []
        mine: LocalBatch | None = None
        for r in range(self.world_size):
            part = indices[r * self.batch_size:(r + 1) * self.batch_size]
            sampled = [self.sample(i, epoch) for i in part]
            pool = [pos for pos, _ in sampled] + [neg for _, negs in sampled for neg in negs]
            pools.append(pool)
            if r == rank:
                groups = [self.groups[i] for i in part]
                mine = LocalBatch(
                    query_ids=[g.query_id for g in groups],
                    queries=[g.query for g in groups],
                    pool=pool,
                    pos_index=list(range(len(part))),
                    query_positive_ids=[frozenset(p.id for p in g.positives) for g in groups],
                    global_pool_ids=[],
                )
        assert mine is not None
        return LocalBatch(mine.query_ids, mine.queries, mine.pool, mine.pos_index, mine.query_positive_ids,
                          [p.id for pool in pools for p in pool])
