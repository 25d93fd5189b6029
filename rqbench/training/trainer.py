"""train_dual_encoder: the dual-encoder task run by the one training loop (kept for existing callers).

``train_dual_encoder(groups, config, out_dir)`` is ``loop.train(DualEncoderTask(groups, config), config,
out_dir)["model"]``; new code calls `rqbench.training.run.run_training` (any task, any process count).
"""

from __future__ import annotations

from pathlib import Path

from rqbench.training.config import TrainConfig
from rqbench.training.loop import train
from rqbench.training.tasks.dual_encoder import DualEncoderTask

__all__ = ["TrainConfig", "train_dual_encoder"]


def train_dual_encoder(groups_path: str | Path, config: TrainConfig, out_dir: str | Path,
                       progress: bool = True) -> Path:
    """Train on the groups in `groups_path`; returns ``out_dir/model``. Call it on every rank under torchrun."""
    return train(DualEncoderTask(groups_path, config), config, out_dir, progress=progress)["model"]
