"""Training losses, one module per loss, each citing its source (as sentence-transformers' `losses/`).

  contrastive  softmax cross-entropy of a query's positive over a pool of passages (the shared core)
  in_batch     in-batch negatives (DPR, arXiv 2004.04906; MultipleNegativesRankingLoss)
  cross_batch  cross-batch negatives over torch.distributed processes (RocketQA, arXiv 2010.08191, 4.1)
  joint        dynamic listwise distillation of a re-ranker into a retriever (RocketQAv2, arXiv 2110.07367)
"""

from rqbench.training.losses.contrastive import DEFAULT_SCALE, contrastive_loss
from rqbench.training.losses.cross_batch import cross_batch_loss, gather_with_grad, world_of
from rqbench.training.losses.in_batch import in_batch_loss

__all__ = ["DEFAULT_SCALE", "contrastive_loss", "cross_batch_loss", "gather_with_grad", "in_batch_loss", "world_of"]
