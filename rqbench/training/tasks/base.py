"""What a training task supplies to the one training loop (`rqbench.training.loop.train`).

A task is the model-specific half of training: which model(s), which data in which order, which loss,
how the result is saved. The loop is the rest (resume, accumulation, gradient all-reduce, clipping,
optimizer and schedule, checkpoints, logging, seeds, device, precision) and is the same for every task.
Tasks are plain classes registered by name in `rqbench.training.tasks.TASKS`; a task built by
`make_task(name, groups_path, config)` takes its data from a training-groups file and its settings from
a `TrainConfig`.

The loss convention: `loss` returns *this process's share* of the step's loss, scaled so that **summing**
the parameter gradients over processes (what the loop's all-reduce does) gives the gradient of the global
mean loss; the loop divides it by `grad_accumulation` itself. With one process that is simply the mean.
A task whose model holds several sub-models (a joint retriever + re-ranker) returns one module holding
them all and writes one folder per name in `outputs` from `save`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from rqbench.training.distributed import DistEnv


@runtime_checkable
class Plan(Protocol):
    """The data order of a run: which batch every (optimizer step, micro-batch, rank) gets."""

    total_steps: int
    steps_per_epoch: int
    global_batch: int  # examples per micro-batch over all processes (for examples/s)

    def epoch_of(self, step: int) -> int: ...

    def local_batch(self, step: int, micro: int, rank: int) -> Any: ...


@runtime_checkable
class Task(Protocol):
    name: str
    outputs: tuple[str, ...]  # the folders a run produces, e.g. ("model",) or ("retriever", "reranker")

    def data_files(self) -> dict[str, Path]:
        """The task's input files by role ({"groups": path}); a checkpoint resumes only on the same bytes."""
        ...

    def plan(self, world_size: int) -> Plan:
        """The data order for `world_size` processes (errors about the data or settings are raised here)."""
        ...

    def load_model(self, init: Path | None) -> torch.nn.Module:
        """The model to train: from the settings (`init` None) or from a checkpoint folder (resume)."""
        ...

    def loss(self, model: torch.nn.Module, batch: Any, env: DistEnv) -> torch.Tensor:
        """This process's share of the loss of one micro-batch (see the module docstring)."""
        ...

    def save(self, model: torch.nn.Module, folder: Path) -> None:
        """Write ``folder/<name>/`` for every name in `outputs`."""
        ...

    def summary(self) -> str:
        """A few words for the progress line ("809 groups, in-batch negatives")."""
        ...
