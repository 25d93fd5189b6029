"""Training checkpoints: the task's models plus optimizer, scheduler, grad-scaler and RNG state; resume.

Owns the checkpoint folder layout under a run's output folder::

    out_dir/checkpoint-<step>/   <output>/ per output of the task, written by the task's `save` (the dual
                                 encoder's ``model/``: an HF folder, loadable by any HF tool),
                                 trainer_state.pt (optimizer, scheduler, scaler), rng_state_<rank>.pt,
                                 trainer_state.json (step, task, world size, config, data digests)

A checkpoint is written into ``.checkpoint-<step>.tmp`` and renamed into place once complete, so a
folder named ``checkpoint-<step>`` is always whole: a run killed while saving resumes from the previous
one. Every process saves its own RNG state (dropout differs per rank); rank 0 saves the rest, since the
model and optimizer are identical on every rank after the gradient all-reduce.

Nothing is unpickled on resume: the ``.pt`` files hold only tensors, numbers, strings, lists and dicts
(Python's `random` state is stored as a tensor), and are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rqbench.artifacts import share_modes
from rqbench.errors import RqbenchError
from rqbench.training.config import ADDED_LATER, RESUME_MAY_CHANGE
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
    """This process's generators as tensors and numbers only (loadable with ``weights_only=True``)."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {"python_version": version, "python": torch.tensor(internal, dtype=torch.int64),
                             "python_gauss": gauss, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(int(x) for x in state["python"].tolist()),
                     state["python_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(out_dir: Path, step: int, env: DistEnv, save_models: Callable[[Path], None],
                    trainer_state: dict[str, Any], info: dict[str, Any], keep: int) -> Path:
    """Write checkpoint-<step> atomically (collective: every rank must call it); prune to the newest `keep`.

    `save_models(folder)` writes the models (rank 0 only calls it).
    """
    final = out_dir / f"checkpoint-{step}"
    tmp = out_dir / f".checkpoint-{step}.tmp"
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    torch.save(rng_state(), tmp / f"rng_state_{env.rank}.pt")
    if env.is_main:
        save_models(tmp)
        torch.save(trainer_state, tmp / STATE_PT)
        (tmp / STATE_JSON).write_text(json.dumps({"step": step, **info}, indent=2), encoding="utf-8")
    barrier()
    if env.is_main:
        share_modes(tmp)  # transformers writes model.safetensors 0600
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
    try:
        state = torch.load(path / STATE_PT, map_location=env.device, weights_only=True)
        rng = torch.load(rng_file, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickled (older) or damaged file: never unpickle arbitrary objects
        raise RqbenchError(f"unreadable trainer state ({str(exc).splitlines()[0]}); remove the checkpoints "
                           "to start over", path) from None
    return state, rng


def check_resumable(checkpoint: Path, info: dict[str, Any]) -> None:
    """Refuse (one line) a checkpoint written by another task, world size, data or settings than `info`'s."""
    saved = read_checkpoint_info(checkpoint)
    if saved.get("task") != info["task"]:
        raise RqbenchError(f"checkpoint was written by task {saved.get('task')!r}, this run is {info['task']!r}",
                           checkpoint)
    if saved.get("world_size") != info["world_size"]:
        raise RqbenchError(f"checkpoint was written by {saved.get('world_size')} process(es), this run has "
                           f"{info['world_size']}; the data order would differ (remove the checkpoints to "
                           "start over)", checkpoint)
    old_data, new_data = saved.get("data_sha256", {}), info["data_sha256"]
    for name in sorted(set(old_data) | set(new_data)):
        if old_data.get(name) != new_data.get(name):
            raise RqbenchError(f"checkpoint was trained on another {name} file", checkpoint)
    old, new = {**ADDED_LATER, **saved.get("config", {})}, info["config"]  # a setting added later: its old value
    changed = sorted(k for k in set(old) | set(new) if k not in RESUME_MAY_CHANGE and old.get(k) != new.get(k))
    if changed:
        raise RqbenchError("checkpoint was trained with other settings (" + ", ".join(
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed) + ")", checkpoint)


def remove_stale_tmp(out_dir: Path) -> None:
    """Half-written checkpoints and outputs of a killed run (rank 0 only)."""
    if out_dir.is_dir():
        for child in out_dir.iterdir():
            if child.name.startswith((".checkpoint-", ".outputs")) and child.name.endswith(".tmp"):
                shutil.rmtree(child, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for child in folder.rglob("*"):
        if child.is_file():
            with child.open("rb") as fh:
                os.fsync(fh.fileno())
