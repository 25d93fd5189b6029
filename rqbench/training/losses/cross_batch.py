"""Cross-batch negatives: passage embeddings shared across data-parallel processes (RocketQA).

RocketQA (Qu et al. 2021, arXiv 2010.08191, section 4.1 "Cross-batch Negatives"): with N data-parallel
processes each holding B queries and P passages, the passage embeddings are all-gathered
(``torch.distributed.nn.functional.all_gather``, whose backward sums the gradient of every process's loss
w.r.t. each shard and hands it to the shard's owner), so every query is scored against N*P passages
instead of P (the contrastive loss of `contrastive`). Config recorded with a run: `negatives`, `scale`,
`hard_negatives_per_query`, `batch_size` and the world size (TrainConfig, training_info.json).

The reduction that makes N processes equal one process holding the concatenated batch
--------------------------------------------------------------------------------------
Let L = (1 / (N*B)) * sum over all N*B queries of CE_i be the single-process loss over the concatenated
batch (the same pool of N*P passages). Process r returns

    L_r = (1 / (N*B)) * sum over its own B queries of CE_i        (``grad_reduction="sum"``, the default)

Then sum_r L_r = L, and because the all_gather backward routes d L_r / d p to the process owning p,
the gradient of process r's parameters is d(sum_r' L_r')/d(its queries and passages). **Summing the
parameter gradients over processes** (all_reduce SUM, what `distributed.all_reduce_gradients` does)
gives exactly dL/dtheta. With DDP, which *averages* gradients, use ``grad_reduction="mean"``: L_r is then
the local mean (1 / B) * sum CE_i = N * (the above), and the average of the N gradients is again dL/dtheta.
Measured on 2 gloo processes (tests/test_cross_batch.py, tiny BERT, 3 queries + 9 passages per process,
both reductions): max abs difference from the single process 2.4e-7 (loss) and 3.8e-6 (gradients, whose
largest entry is 2.25) in float32, i.e. rounding; 8.9e-16 and 8.0e-15 in float64.

With one process, or no process group at all, `cross_batch_loss` *is* `in_batch_loss` (same call,
bit-identical result).
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
import torch.distributed as dist

from rqbench.training.losses.contrastive import DEFAULT_SCALE, contrastive_loss
from rqbench.training.losses.in_batch import in_batch_loss


def world_of(group: dist.ProcessGroup | None = None) -> tuple[int, int]:
    """(rank, world size) in `group`, or (0, 1) without an initialised process group."""
    if not dist.is_available() or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def gather_with_grad(t: torch.Tensor, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """All processes' `t` concatenated along dim 0 (rank order); gradients flow back to each shard's owner."""
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in 2.13 for a private API; it is the documented autograd op
        warnings.simplefilter("ignore", FutureWarning)
        parts = all_gather(t.contiguous(), group=group or dist.group.WORLD)
    return torch.cat(parts, dim=0)


def cross_batch_loss(q: torch.Tensor, p: torch.Tensor, pos_index: torch.Tensor,
                     group: dist.ProcessGroup | None = None, scale: float = DEFAULT_SCALE,
                     exclude: torch.Tensor | None = None,
                     grad_reduction: Literal["sum", "mean"] = "sum") -> torch.Tensor:
    """Cross-batch negatives: this process's queries against the passages of every process in `group`.

    `q` [B, d], `p` [P, d] and `pos_index` [B] are local (`pos_index` indexes the local `p`); every
    process must hold the same B and P. `exclude`, if given, is [B, N*P] over the gathered pool (rank
    order). Returns this process's share of the loss: see the module docstring for `grad_reduction`
    ("sum": gradients are to be summed across processes; "mean": averaged, as DDP does). With one
    process or no process group this returns ``in_batch_loss(q, p, pos_index, scale, exclude)``.
    """
    rank, world = world_of(group)
    if world == 1:
        return in_batch_loss(q, p, pos_index, scale, exclude)
    if grad_reduction not in ("sum", "mean"):
        raise ValueError(f"grad_reduction must be 'sum' or 'mean', got {grad_reduction!r}")
    sizes = torch.tensor([[q.shape[0], p.shape[0]]], dtype=torch.long, device=p.device)
    all_sizes = [torch.empty_like(sizes) for _ in range(world)]
    dist.all_gather(all_sizes, sizes, group=group)
    if any(not torch.equal(s, all_sizes[0]) for s in all_sizes):
        shapes = ", ".join(f"rank {r}: {int(s[0, 0])} queries/{int(s[0, 1])} passages"
                           for r, s in enumerate(all_sizes))
        raise ValueError(f"cross-batch negatives need the same batch on every process ({shapes})")
    pool = gather_with_grad(p, group)
    local_sum = contrastive_loss(q, pool, pos_index + rank * p.shape[0], scale, exclude, "sum")
    if grad_reduction == "sum":
        return local_sum / (q.shape[0] * world)
    return local_sum / q.shape[0]
