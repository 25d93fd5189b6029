"""``python -m rqbench.training --task T --groups F [--config cfg.json] --out DIR``: what torchrun runs per rank.

Owns argument parsing only. Runs as one process, or once per rank under torchrun::

    torchrun --standalone --nproc-per-node 2 -m rqbench.training --groups g.jsonl --config c.json --out run/

Outside torchrun, `--nproc N` (N > 1) and the rendezvous options (--nnodes, --node-rank, --rdzv-endpoint,
--rdzv-id, --rdzv-backend) relaunch through torchrun (`run.run_training`). `--set key=value` overrides one
TrainConfig setting (value parsed as JSON, else taken as a string). Prints the output folders (rank 0).
Exit codes: 0 done, 2 a user error (printed as one line, ``path:line: problem``), 1 anything else.
`rqbench train` (`cli.train_command`) is the same command with Typer's help.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rqbench.errors import RqbenchError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rqbench.training",
                                     description="Train a model (a training task) on training groups (JSON lines).")
    parser.add_argument("--task", default="dual-encoder", help="training task (default: dual-encoder)")
    parser.add_argument("--groups", required=True, type=Path, help="training groups (JSON lines)")
    parser.add_argument("--config", type=Path, help="JSON object of TrainConfig settings")
    parser.add_argument("--out", required=True, type=Path, help="output folder (checkpoints, log, outputs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting (repeatable)")
    parser.add_argument("--nproc", type=int, default=1, help="processes per machine (> 1: through torchrun)")
    for option in ("--nnodes", "--rdzv-endpoint", "--rdzv-id", "--rdzv-backend"):
        parser.add_argument(option, help="passed to torchrun (multi-machine training)")
    parser.add_argument("--node-rank", type=int, help="passed to torchrun (multi-machine training)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT/model/ that a training "
                        "run did not write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rank = os.environ.get("RANK")
    try:
        from rqbench.training.run import load_config, run_training, torchrun_options

        config = load_config(args.config, args.set)
        torchrun_args = torchrun_options(args.nnodes, args.node_rank, args.rdzv_endpoint, args.rdzv_id,
                                         args.rdzv_backend)
        outputs = run_training(args.task, args.groups, config, args.out, nproc=args.nproc,
                               torchrun_args=torchrun_args, progress=not args.quiet, overwrite=args.overwrite)
    except RqbenchError as exc:
        prefix = f"[rank {rank}] " if rank not in (None, "0") else ""
        print(f"{prefix}error: {exc.one_line()}", file=sys.stderr)
        return 2
    if rank in (None, "0"):
        for folder in outputs.values():
            print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
