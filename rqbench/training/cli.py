"""`rqbench train`: the Typer command of a training run (registered by `rqbench.cli`); parse and delegate.

Owns the command's options and help only; `run.run_training` does the work. The help lists every
TrainConfig setting with its default (from `config.SETTING_HELP`), so it cannot fall behind the code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from rqbench.training.config import SETTING_HELP, TrainConfig
from rqbench.training.tasks import TASKS

TORCHRUN = "Passed to torchrun (multi-machine training)."


def train_command(
    groups: Annotated[Path, typer.Option("--groups", help="Training groups (JSON lines: query, positives, "
                                         "negatives in rank order).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: checkpoints, train_log.jsonl, one folder "
                                      "per output (resumes from its newest checkpoint).")],
    config: Annotated[Path | None, typer.Option("--config", help="JSON object of settings (listed above).")] = None,
    task: Annotated[str, typer.Option("--task", help="Training task: " + ", ".join(TASKS) + ".")] = "dual-encoder",
    settings: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="Override one setting "
                        "(repeatable); VALUE is parsed as JSON, else taken as a string.")] = None,
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="Processes per machine; > 1 runs under torchrun "
                                       "(gloo on CPU, nccl on GPU).")] = 1,
    nnodes: Annotated[str | None, typer.Option("--nnodes", help=TORCHRUN + " Number of machines (or MIN:MAX).")]
    = None,
    node_rank: Annotated[int | None, typer.Option("--node-rank", help=TORCHRUN + " This machine's rank.")] = None,
    rdzv_endpoint: Annotated[str | None, typer.Option("--rdzv-endpoint", help=TORCHRUN + " HOST:PORT of the "
                                                      "rendezvous.")] = None,
    rdzv_id: Annotated[str | None, typer.Option("--rdzv-id", help=TORCHRUN + " Job id, the same on every "
                                                "machine.")] = None,
    rdzv_backend: Annotated[str | None, typer.Option("--rdzv-backend", help=TORCHRUN + " Usually c10d.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing OUT/model/ that rqbench train "
                                            "did not write (refused without it).")] = False,
) -> None:
    from rqbench.training.run import load_config, run_training, torchrun_options

    train_config = load_config(config, settings or [])
    outputs = run_training(task, groups, train_config, out, nproc=nproc,
                           torchrun_args=torchrun_options(nnodes, node_rank, rdzv_endpoint, rdzv_id, rdzv_backend),
                           progress=not quiet, overwrite=overwrite)
    for folder in outputs.values():
        typer.echo(str(folder))


def _settings_help() -> str:
    """Each setting and its default, its help wrapped to 80 columns (the block is printed verbatim)."""
    import textwrap

    lines = []
    for field in dataclasses.fields(TrainConfig):
        lines.append(f"  {field.name} = {field.default!r}")
        lines += textwrap.wrap(SETTING_HELP[field.name], width=76, initial_indent="      ",
                               subsequent_indent="      ")
    return "\n".join(lines)


train_command.__doc__ = f"""Train a model on training groups (a dual encoder by default).

\b
Prints the output folders. --nproc N > 1 starts N processes on this machine
through torchrun --standalone. Multi-machine training goes through torchrun's
own rendezvous: run the same command on every machine with --nnodes,
--node-rank, --rdzv-endpoint, --rdzv-id and --rdzv-backend (they replace
--standalone), and an --out folder that every machine sees (global rank 0
writes the checkpoints and outputs).

\b
Settings (--config JSON object, or --set KEY=VALUE), with their defaults:
{_settings_help()}
"""
