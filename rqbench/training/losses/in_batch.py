"""In-batch negatives: every other passage of the process's batch is a negative of each query.

DPR (Karpukhin et al. 2020, arXiv 2004.04906, section 3.2 "In-batch negatives") and
sentence-transformers' MultipleNegativesRankingLoss: with B queries and their B positives (plus any hard
negatives appended to the pool), each query's softmax runs over the whole pool, so B-1 positives of the
other queries act as negatives at no extra encoding cost. Config recorded with a run: `scale`,
`hard_negatives_per_query` (TrainConfig).
"""

from __future__ import annotations

import torch

from rqbench.training.losses.contrastive import DEFAULT_SCALE, contrastive_loss


def in_batch_loss(q: torch.Tensor, p: torch.Tensor, pos_index: torch.Tensor, scale: float = DEFAULT_SCALE,
                  exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Mean CE of every query over its own process's pool (positives + hard negatives)."""
    return contrastive_loss(q, p, pos_index, scale, exclude, "mean")
