"""The train node's own declaration: the [variants.train] keys it reads itself (its data, processes, task,
negatives per query) and the references it follows (the models it starts from: `init_from`'s checkpoint for
its `init` input, `reranker_from`'s cross-encoder for the joint task's `reranker` input). Its planning is
the planner's (`rqbench.plan._Planner._train`): a train node is in every trained variant's chain."""

from __future__ import annotations

from rqbench.plan.steps.base import Follows

TRAIN_NODE_KEYS = frozenset({"split", "dataset", "nproc", "task", "hard_negatives", "random_negatives", "sample",
                             "init_from", "reranker_from"})
TRAIN_NODE_FOLLOWS = (Follows("init_from", "checkpoint", "init"), Follows("reranker_from", "checkpoint", "reranker"))
