"""Training checkpoints: HF-format model plus optimizer, scheduler, grad-scaler and RNG state; resume.

Owns the checkpoint folder layout under a run's output folder::

    out_dir/checkpoint-<step>/   config.json, model.safetensors, tokenizer files, rqbench_encoder.json
                                 (DualEncoder.save: loadable by any HF tool or `DualEncoder.load`),
                                 trainer_state.pt (optimizer, scheduler, scaler), rng_state_<rank>.pt,
                                 trainer_state.json (step, world size, config, groups digest)

A checkpoint is written into ``.checkpoint-<step>.tmp`` and renamed into place once complete, so a
folder named ``checkpoint-<step>`` is always whole: a run killed while saving resumes from the previous
one. Every process saves its own RNG state (dropout differs per rank); rank 0 saves the rest, since the
model and optimizer are identical on every rank after the gradient all-reduce.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from rqbench.errors import RqbenchError
from rqbench.training.distributed import DistEnv, barrier

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_JSON = "trainer_state.json"
STATE_PT = "trainer_state.pt"


def list_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under `out_dir`, oldest first."""
    if not out_dir.is_dir():
        return []
    found = []
    for child in out_dir.iterdir():
        match = CHECKPOINT_RE.match(child.name)
        if match and child.is_dir() and (child / STATE_JSON).exists():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(out_dir: Path) -> tuple[int, Path] | None:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(out_dir: Path, step: int, env: DistEnv, model: Any, trainer_state: dict[str, Any],
                    info: dict[str, Any], keep: int) -> Path:
    """Write checkpoint-<step> atomically (collective: every rank must call it); prune to the newest `keep`."""
    final = out_dir / f"checkpoint-{step}"
    tmp = out_dir / f".checkpoint-{step}.tmp"
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    torch.save(rng_state(), tmp / f"rng_state_{env.rank}.pt")
    if env.is_main:
        model.save(tmp)
        torch.save(trainer_state, tmp / STATE_PT)
        (tmp / STATE_JSON).write_text(json.dumps({"step": step, **info}, indent=2), encoding="utf-8")
    barrier()
    if env.is_main:
        _fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for _, old in list_checkpoints(out_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def read_checkpoint_info(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RqbenchError(f"unreadable checkpoint state ({exc})", path / STATE_JSON) from None


def load_trainer_state(path: Path, env: DistEnv) -> tuple[dict[str, Any], dict[str, Any]]:
    """(optimizer/scheduler/scaler state, this rank's RNG state) of a checkpoint."""
    rng_file = path / f"rng_state_{env.rank}.pt"
    if not rng_file.exists():
        raise RqbenchError(f"checkpoint has no RNG state for rank {env.rank}", path)
    state = torch.load(path / STATE_PT, map_location=env.device, weights_only=False)
    rng = torch.load(rng_file, map_location="cpu", weights_only=False)
    return state, rng


def remove_stale_tmp(out_dir: Path) -> None:
    """Half-written checkpoints of a killed run (rank 0 only)."""
    if out_dir.is_dir():
        for child in out_dir.iterdir():
            if child.name.startswith((".checkpoint-", ".model.")) and child.name.endswith(".tmp"):
                shutil.rmtree(child, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for child in folder.rglob("*"):
        if child.is_file():
            with child.open("rb") as fh:
                os.fsync(fh.fileno())
