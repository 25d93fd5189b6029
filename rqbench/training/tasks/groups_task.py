"""What every task that trains on a training-groups file shares: the file, its groups (read once, on first
use) and the seeded batch plan built from the run's settings (`BatchPlan`)."""

from __future__ import annotations

from pathlib import Path

from rqbench.training.batches import BatchPlan
from rqbench.training.config import TrainConfig
from rqbench.training.groups import TrainingGroup, read_groups


class GroupsTask:
    """Base of the dual-encoder and cross-encoder tasks: `groups`, `data_files` and `batch_plan`."""

    def __init__(self, groups_path: str | Path, config: TrainConfig) -> None:
        self.groups_path = Path(groups_path)
        self.config = config
        self._groups: list[TrainingGroup] | None = None

    @property
    def groups(self) -> list[TrainingGroup]:
        if self._groups is None:
            self._groups = read_groups(self.groups_path)
        return self._groups

    def data_files(self) -> dict[str, Path]:
        return {"groups": self.groups_path}

    def batch_plan(self, world_size: int) -> BatchPlan:
        """The data order for `world_size` processes from the config's batch, steps, negatives and seed."""
        c = self.config
        return BatchPlan(self.groups, c.batch_size, world_size, c.grad_accumulation, c.epochs, c.max_steps,
                         c.hard_negatives_per_query, c.seed, c.negative_sampling)
