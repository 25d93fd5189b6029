"""train: a training task (dual encoder, cross-encoder, joint) on training groups, in one process or several.

Inputs: `groups` (from `groups`, `mine`, `denoise`, `hybrid` or `augment`), optionally `init`, another training's
checkpoint to start from, and for the joint task `reranker`, the trained cross-encoder its re-ranker starts
from. The output is a checkpoint artifact holding one folder per output of the task (`model/` for the dual
encoder and the cross-encoder; `retriever/` and `reranker/` for the joint task). Settings that change only
speed or bookkeeping (device, threads, checkpoint frequency) are not hashed, so a run may resume with other
values; `resumable`: checkpoints left by a killed attempt are picked up.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.stages.base import BuildContext, StageKind

if TYPE_CHECKING:
    from rqbench.training.config import TrainConfig


@dataclass(frozen=True)
class TrainParams:
    task: str = "dual-encoder"
    nproc: int = 1  # processes (> 1: torchrun; cross-batch negatives gather over them)
    trainer: dict[str, Any] = field(default_factory=dict)  # the hashed TrainConfig settings
    base: dict[str, Any] = field(default_factory=dict)  # digests of the starting model (none with `init`)

    def __post_init__(self) -> None:
        if self.nproc < 1:
            raise ValueError(f"nproc must be >= 1, got {self.nproc}")


_IN_PROCESS = threading.Lock()


def _to_stderr(line: str) -> None:
    sys.stderr.write(line)
    sys.stderr.flush()


def produce(ctx: BuildContext) -> None:
    from rqbench.training.config import TrainConfig
    from rqbench.training.run import run_training

    p: TrainParams = ctx.params
    settings = {**p.trainer, **ctx.node.runtime.get("trainer", {})}
    settings["model"] = str(ctx.input_path("init")) if ctx.has_input("init") else ctx.node.runtime["model"]
    if ctx.has_input("reranker"):
        settings["reranker_model"] = str(ctx.input_path("reranker"))
    # the ranks' output goes to stderr: stdout may be carrying `--json` records
    config = TrainConfig(**settings)
    with tempfile.TemporaryDirectory(prefix="rqbench-groups-") as scratch:
        groups = _readable_groups(ctx, config, Path(scratch))
        if p.nproc > 1:  # its own processes: seeds and thread counts are theirs
            run_training(p.task, groups, config, ctx.out, nproc=p.nproc, echo=_to_stderr)
            return
        # in this process: the loop seeds torch's global generators and sets its thread count, so two
        # in-process trainings (--jobs > 1) must not overlap, or dropout streams would depend on timing
        with _IN_PROCESS:
            run_training(p.task, groups, config, ctx.out, nproc=1, echo=_to_stderr)


def _readable_groups(ctx: BuildContext, config: TrainConfig, scratch: Path) -> Path:
    """The input groups file; for `passage_input = "title-sep"`, when it was written before groups kept titles (an
    older rqbench's artifact under today's hash), a copy in `scratch` with the titles from the planned corpus, so
    the training reads what today's groups stage would have written. Passages the corpus does not match keep
    no title, and the trainer's one-line error names the file."""
    from rqbench.training.groups import iter_groups, titles_from_corpus, write_groups

    groups = ctx.input_path("groups") / "groups.jsonl"
    if config.passage_input != "title-sep" or ctx.node.dataset is None:
        return groups
    if all(p.title is not None for g in iter_groups(groups) for p in (*g.positives, *g.negatives)):
        return groups
    titled = scratch / "groups.jsonl"
    write_groups(titles_from_corpus(iter_groups(groups), ctx.dataset.corpus), titled)
    return titled


KIND = StageKind(
    name="train", version=2, inputs={"groups": "groups", "init": "checkpoint?", "reranker": "checkpoint?"},
    output="checkpoint", Params=TrainParams,
    doc="train a task (dual encoder, cross-encoder, joint) on groups; torchrun for nproc > 1; resumable",
    produce=produce, resumable=True,
)
