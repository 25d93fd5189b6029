"""What every task that trains on a training-groups file shares: the file, its groups (read once, on first
use) and the seeded batch plan built from the run's settings (`BatchPlan`)."""

from __future__ import annotations

from pathlib import Path

from rqbench.errors import RqbenchError
from rqbench.training.batches import BatchPlan
from rqbench.training.config import TrainConfig
from rqbench.training.groups import Passage, TrainingGroup, read_groups

NEEDS_TITLES = ("passage_input = 'title-sep' reads each passage's title apart, and these training groups were "
                "written without titles (by an earlier rqbench or another tool): remove the artifact folder "
                "holding this file and run again, or run with --overwrite")


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

    def passage_strings(self, passages: list[Passage]) -> list[str]:
        """What the dual encoder reads for each passage (`rqbench.models.dual_encoder.passage_string`)."""
        from rqbench.models.dual_encoder import passage_string

        mode = self.config.passage_input
        if mode == "title-sep" and any(p.title is None for p in passages):
            raise RqbenchError(NEEDS_TITLES, self.groups_path)
        return [passage_string(p.title, p.text, mode) for p in passages]

    def batch_plan(self, world_size: int) -> BatchPlan:
        """The data order for `world_size` processes from the config's batch, steps, negatives and seed."""
        c = self.config
        return BatchPlan(self.groups, c.batch_size, world_size, c.grad_accumulation, c.epochs, c.max_steps,
                         c.hard_negatives_per_query, c.seed, c.negative_sampling)
