"""run_training: the single entry point of a training run, in this process or under torchrun.

Owns the choice between the two: one process and no torchrun options (or a process that already is a
torchrun rank) -> `loop.train` right here; otherwise (`distributed.launch`)

    python -m torch.distributed.run ... -m rqbench.training --task T --groups G --config C --out O

whose ranks each run `loop.train`. `torchrun_args` are passed to torchrun as
given; when they hold a multi-machine rendezvous (--nnodes, --node-rank, --rdzv-endpoint, --rdzv-id,
--rdzv-backend) they replace `--standalone`, and the same call is made on every machine (torchrun's own
rendezvous joins them; `out_dir` should then be on storage every machine sees, since global rank 0
writes the checkpoints and outputs).

Before either, `check_out_dir` refuses an `out_dir` whose output folder (``model/``) exists but was not
written by a training run (it has no ``training_info.json``): the run would delete it when it ends.
`overwrite=True` (``--overwrite``) lets it be replaced.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rqbench.errors import RqbenchError
from rqbench.training.config import TRAINING_INFO, TrainConfig
from rqbench.training.tasks import make_task, task_class

CONFIG_FILE = "train_config.json"  # the settings handed to the torchrun ranks (written into out_dir)


def run_training(task: str, groups_path: str | Path, config: TrainConfig, out_dir: str | Path, nproc: int = 1,
                 torchrun_args: Sequence[str] = (), echo: Callable[[str], None] | None = None,
                 progress: bool = True, overwrite: bool = False) -> dict[str, Path]:
    """Train `task` on `groups_path` into `out_dir`; returns {output name: folder}.

    `echo` receives the ranks' output lines under torchrun (default: this process's stdout); a failed
    torchrun (any rank) is an RqbenchError. `overwrite`: see `check_out_dir`.
    """
    out_dir = Path(out_dir)
    if nproc < 1:
        raise RqbenchError(f"nproc must be >= 1, got {nproc}")
    if "RANK" not in os.environ:  # a torchrun rank was started by a process that already checked
        check_out_dir(task, out_dir, overwrite)
    if (nproc == 1 and not torchrun_args) or "RANK" in os.environ:
        from rqbench.training.loop import train

        return train(make_task(task, groups_path, config), config, out_dir, progress=progress)

    from rqbench.training.distributed import launch

    outputs = task_class(task).outputs
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / CONFIG_FILE
    config_path.write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    args = ["--task", task, "--groups", str(Path(groups_path).resolve()), "--config", str(config_path.resolve()),
            "--out", str(out_dir.resolve())]
    if not progress:
        args.append("--quiet")
    show = echo or _to_stdout
    errors: list[str] = []

    def watch(line: str) -> None:
        if ERROR_LINE.match(line) and not errors:
            errors.append(ERROR_LINE.sub("", line).strip())
        show(line)

    code = launch(nproc, "rqbench.training", args, echo=watch, torchrun_args=list(torchrun_args))
    if code != 0:
        cause = errors[0] if errors else "see the ranks' output above"
        raise RqbenchError(f"training with {nproc} process(es) per machine failed (exit {code}): {cause}")
    return {name: out_dir / name for name in outputs}


def check_out_dir(task: str, out_dir: Path, overwrite: bool = False) -> None:
    """Refuse (one line, exit 2) an `out_dir` that a training run would damage.

    A run renames each finished output (``model/``) into place, deleting whatever folder had that name.
    One holding ``training_info.json`` is a previous run's output (returned as is, never retrained); any
    other is someone's data, kept unless `overwrite`. A file or symbolic link in the way is always refused
    (training would fail only at the end, after all its work).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise RqbenchError("--out is a file; training needs a folder", out_dir)
    for name in task_class(task).outputs:
        folder = out_dir / name
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            kind = "a symbolic link" if folder.is_symlink() else "a file"
            raise RqbenchError(f"{name} is {kind}, where training writes its {name}/ folder: remove it or choose "
                               "another --out", out_dir)
        if folder.is_dir() and not (folder / TRAINING_INFO).exists() and not overwrite:
            raise RqbenchError(f"{name}/ already exists and was not written by rqbench train (no {TRAINING_INFO}); "
                               f"training would replace it: choose another --out, or pass --overwrite", out_dir)


# how `python -m rqbench.training` reports a user error on a rank: "error: ..." or "[rank 1] error: ..."
ERROR_LINE = re.compile(r"^(\[rank \d+\] )?error: ")


# torchrun's multi-machine options, passed through as given
RENDEZVOUS_OPTIONS = ("--nnodes", "--node-rank", "--rdzv-endpoint", "--rdzv-id", "--rdzv-backend")


def torchrun_options(nnodes: str | None = None, node_rank: int | None = None, rdzv_endpoint: str | None = None,
                     rdzv_id: str | None = None, rdzv_backend: str | None = None) -> list[str]:
    """``["--nnodes", "2", "--node-rank", "0", ...]`` for the options given (None: left out)."""
    values = (nnodes, node_rank, rdzv_endpoint, rdzv_id, rdzv_backend)
    args: list[str] = []
    for option, value in zip(RENDEZVOUS_OPTIONS, values, strict=True):
        if value is not None:
            args += [option, str(value)]
    return args


def setting_overrides(items: Sequence[str]) -> dict[str, object]:
    """``--set KEY=VALUE`` items as settings (VALUE parsed as JSON, else kept as a string)."""
    values: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RqbenchError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def load_config(config_file: str | Path | None, items: Sequence[str] = ()) -> TrainConfig:
    """The TrainConfig of a JSON file (or the defaults) with `--set` items applied (one-line errors)."""
    values = TrainConfig.from_json_file(config_file).to_dict() if config_file else {}
    values.update(setting_overrides(items))
    return TrainConfig.from_dict(values, str(config_file) if config_file else "--set")


def _to_stdout(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.flush()
