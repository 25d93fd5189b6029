"""The contrastive core every retrieval loss here is built on: softmax cross-entropy over a pool.

Every query is scored against a *pool* of passage embeddings and the loss is the negative log-likelihood
of its positive under a softmax over the pool (DPR, Karpukhin et al. 2020, arXiv 2004.04906, eq. 2;
sentence-transformers' MultipleNegativesRankingLoss; RocketQA, arXiv 2010.08191, eq. 1):

    CE_i = -log softmax(scale * q_i . P^T)[pos_i]

`scale` is the inverse temperature: with L2-normalised embeddings the scores are cosines in [-1, 1] and
need a scale (sentence-transformers uses 20); with unnormalised inner products (RocketQA's ERNIE dual
encoder, DPR's BERT) use 1. `exclude` (bool, [queries, pool]) removes candidates from a query's softmax:
the dual-encoder task uses it for the query's *other* judged positives that happen to be in the pool (a
shared positive of two queries is not a negative of either). The target is never excluded.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional as F

DEFAULT_SCALE = 20.0


def contrastive_loss(q: torch.Tensor, p: torch.Tensor, pos_index: torch.Tensor, scale: float = DEFAULT_SCALE,
                     exclude: torch.Tensor | None = None,
                     reduction: Literal["mean", "sum"] = "mean") -> torch.Tensor:
    """Softmax cross-entropy of each query (rows of `q`) over all passages `p`; `pos_index[i]` is its target.

    Scores are computed in float32 at least, even inside an autocast region (a bf16 softmax over hundreds
    of candidates loses the small differences the loss is about); float64 stays float64.
    """
    if q.dim() != 2 or p.dim() != 2 or q.shape[1] != p.shape[1]:
        raise ValueError(f"expected q [B, d] and p [P, d], got {tuple(q.shape)} and {tuple(p.shape)}")
    dtype = torch.promote_types(q.dtype, torch.float32)
    with torch.autocast(device_type=q.device.type, enabled=False):
        scores = scale * (q.to(dtype) @ p.to(dtype).T)
        if exclude is not None:
            if exclude.shape != scores.shape:
                raise ValueError(f"exclude must have shape {tuple(scores.shape)}, got {tuple(exclude.shape)}")
            keep_target = torch.zeros_like(exclude)
            keep_target[torch.arange(q.shape[0], device=exclude.device), pos_index] = True
            scores = scores.masked_fill(exclude & ~keep_target, float("-inf"))
        return F.cross_entropy(scores, pos_index, reduction=reduction)
