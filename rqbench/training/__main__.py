"""Command line of the trainer: ``python -m rqbench.training --groups F --config cfg.json --out DIR``.

Owns argument parsing only. Runs as one process, or once per rank under torchrun::

    torchrun --standalone --nproc-per-node 2 -m rqbench.training --groups g.jsonl --config c.json --out run/

`--nproc N` (N > 1) re-launches itself through torchrun (`distributed.launch`). `--set key=value`
overrides one TrainConfig setting (value parsed as JSON, else taken as a string). Exit codes: 0 done,
2 a user error (printed as one line, ``path:line: problem``), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rqbench.errors import RqbenchError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rqbench.training",
                                     description="Train a dual encoder on training groups (JSON lines).")
    parser.add_argument("--groups", required=True, type=Path, help="training groups (JSON lines)")
    parser.add_argument("--config", type=Path, help="JSON object of TrainConfig settings")
    parser.add_argument("--out", required=True, type=Path, help="output folder (checkpoints, log, model/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting (repeatable)")
    parser.add_argument("--nproc", type=int, default=1, help="processes (> 1: launched through torchrun)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def _overrides(items: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RqbenchError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rank = os.environ.get("RANK")
    try:
        from rqbench.training.config import TrainConfig

        values = TrainConfig.from_json_file(args.config).to_dict() if args.config else {}
        values.update(_overrides(args.set))
        config = TrainConfig.from_dict(values, str(args.config) if args.config else "--set")
        if args.nproc > 1 and rank is None:
            from rqbench.training.distributed import launch

            forwarded = list(argv if argv is not None else sys.argv[1:])
            forwarded = _drop_option(forwarded, "--nproc")
            return launch(args.nproc, "rqbench.training", forwarded)
        from rqbench.training.trainer import train_dual_encoder

        final = train_dual_encoder(args.groups, config, args.out, progress=not args.quiet)
    except RqbenchError as exc:
        prefix = f"[rank {rank}] " if rank not in (None, "0") else ""
        print(f"{prefix}error: {exc.one_line()}", file=sys.stderr)
        return 2
    if rank in (None, "0"):
        print(final)
    return 0


def _drop_option(argv: list[str], name: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


if __name__ == "__main__":
    sys.exit(main())
