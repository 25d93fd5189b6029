"""Training tasks by name: a plain registry, imported lazily (a task module may import torch).

  dual-encoder   contrastive training of a dual encoder on query/positive/negatives groups (RocketQA)
  cross-encoder  a re-ranker on the same groups: pointwise (RocketQA) or listwise cross-entropy
  joint          a retriever and a re-ranker together, dynamic listwise distillation (RocketQAv2)

A task class is built as ``cls(groups_path, config)``; see `base` for what it supplies to the loop.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError, did_you_mean

if TYPE_CHECKING:
    from rqbench.training.config import TrainConfig
    from rqbench.training.tasks.base import Task

TASKS: dict[str, str] = {
    "dual-encoder": "rqbench.training.tasks.dual_encoder:DualEncoderTask",
    "cross-encoder": "rqbench.training.tasks.cross_encoder:CrossEncoderTask",
    "joint": "rqbench.training.tasks.joint:JointTask",
}

# Which folder of a task's checkpoint a backend loads, by the task that backend trains (its TRAINING_TASK):
# a joint run serves a dense retriever and a cross-encoder re-ranker from one train node.
SERVES: dict[str, dict[str, str]] = {
    "dual-encoder": {"dual-encoder": "model"},
    "cross-encoder": {"cross-encoder": "model"},
    "joint": {"dual-encoder": "retriever", "cross-encoder": "reranker"},
}


def task_class(name: str) -> Any:
    """The class registered as `name` (unknown name: one-line error with "did you mean")."""
    if name not in TASKS:
        raise RqbenchError(f"unknown training task '{name}'" + did_you_mean(name, TASKS))
    module, _, attr = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def make_task(name: str, groups_path: str | Path, config: TrainConfig) -> Task:
    """The task `name` over the training groups in `groups_path` with `config`."""
    return task_class(name)(Path(groups_path), config)
