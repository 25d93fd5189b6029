"""train(task, config, out_dir): the one training loop, for every task (dual encoder, re-ranker, joint).

Owns everything that does not depend on the model (the task supplies model, data order, loss and saving;
see `tasks.base`). Per optimizer step, on every process:

1. for each of `grad_accumulation` micro-batches: the task's loss of this rank's batch (under bf16/fp16
   autocast when asked), divided by `grad_accumulation`, backward;
2. sum the gradients over processes (`distributed.all_reduce_gradients`: the tasks scale their losses
   for a SUM), unscale (fp16), clip to `max_grad_norm`, AdamW step, scheduler step.

AdamW without decay on 1-d parameters (biases, LayerNorm weights), linear warmup over `warmup_ratio` of
the steps then linear decay to zero (as transformers' get_linear_schedule_with_warmup), seeds (the
model is built with `seed` on every rank, dropout then draws from `seed + rank`), device selection
(`distributed.init_from_env`), `threads`. fp16 needs CUDA and uses a GradScaler.

Output folder: ``train_log.jsonl`` (step, epoch, loss, lr, examples/s, step and elapsed seconds; the last
line adds the main process's peak memory, `memory.PeakMemory`),
``checkpoint-<step>`` folders every `save_every` steps (`checkpoints`; the run resumes from the newest
one, and refuses one written by another task, world size, data or settings), and the final outputs,
one folder per name in `task.outputs` (``model/`` for the dual encoder), each with a
``training_info.json``, renamed into place once complete. A folder that already holds every output is
returned as is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from rqbench.artifacts import share_modes
from rqbench.errors import RqbenchError
from rqbench.training.checkpoints import (
    check_resumable,
    latest_checkpoint,
    load_trainer_state,
    remove_stale_tmp,
    save_checkpoint,
    set_rng_state,
)
from rqbench.training.config import LOG_FILE, TRAINING_INFO, TrainConfig
from rqbench.training.distributed import DistEnv, all_reduce_gradients, all_reduce_sums, barrier, init_from_env
from rqbench.training.memory import PeakMemory
from rqbench.training.tasks.base import Task

__all__ = ["LOG_FILE", "TRAINING_INFO", "finished_outputs", "train"]


def finished_outputs(task: Task, out_dir: str | Path) -> dict[str, Path] | None:
    """{output name: folder} when `out_dir` already holds every finished output of `task`, else None."""
    folders = {name: Path(out_dir) / name for name in task.outputs}
    return folders if all((f / TRAINING_INFO).exists() for f in folders.values()) else None


def train(task: Task, config: TrainConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Path]:
    """Run `task` with `config` into `out_dir`; returns {output name: folder}. Call it on every rank."""
    out_dir = Path(out_dir)
    created_group = not torch.distributed.is_initialized()
    threads = torch.get_num_threads()
    env = init_from_env(config.device)
    try:
        done = finished_outputs(task, out_dir)
        if done is not None:
            return done
        return _train(task, config, out_dir, env, progress)
    finally:
        torch.set_num_threads(threads)  # `config.threads` is process-wide: do not leak it to the caller
        if created_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(task: Task, config: TrainConfig, out_dir: Path, env: DistEnv, progress: bool) -> dict[str, Path]:
    if config.mixed_precision == "fp16" and env.device.type != "cuda":
        raise RqbenchError("mixed_precision 'fp16' needs a CUDA device; use 'bf16' or 'no' on CPU")
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.grad_cache_chunk and not callable(getattr(task, "cached_backward", None)):
        raise RqbenchError(f"grad_cache_chunk: the {task.name} task has no cached-gradient step (the dual-encoder "
                           "task has: its contrastive batch couples every query with every passage)")
    plan = task.plan(env.world_size)
    info = {"task": task.name, "world_size": env.world_size, "total_steps": plan.total_steps,
            "data_sha256": {role: _file_digest(Path(path)) for role, path in task.data_files().items()},
            "config": config.to_dict()}
    out_dir.mkdir(parents=True, exist_ok=True)
    if env.is_main:
        remove_stale_tmp(out_dir)
    barrier()

    resume = latest_checkpoint(out_dir)
    if resume is not None:
        check_resumable(resume[1], info)
    memory = PeakMemory(env.device)  # this attempt's peak: models, optimizer state, activations
    torch.manual_seed(config.seed)  # the same initial weights on every rank, for a task that builds layers
    model = task.load_model(resume[1] if resume else None).to(env.device)
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    warmup = int(config.warmup_ratio * plan.total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup, plan.total_steps))
    scaler = torch.amp.GradScaler("cuda") if config.mixed_precision == "fp16" else None

    start = 0
    if resume is not None:
        start = resume[0]
        state, rng = load_trainer_state(resume[1], env)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        set_rng_state(rng)
    else:
        random.seed(config.seed + env.rank)
        torch.manual_seed(config.seed + env.rank)  # dropout: a different stream per rank
    log_path = out_dir / LOG_FILE
    if env.is_main:
        _truncate_log(log_path, start)
    summary = task.summary()
    _say(progress and env.is_main,
         f"{task.name}: {plan.total_steps} steps ({plan.steps_per_epoch}/epoch)" + (f", {summary}" if summary else "")
         + f", {env.world_size} process(es), global batch {plan.global_batch}"
         + (f", resuming at step {start}" if start else ""))

    params = [p for p in model.parameters() if p.requires_grad]
    engine = _ddp(task, model, config, env)
    started = time.perf_counter()
    report_every = max(1, plan.total_steps // 20)
    for step in range(start, plan.total_steps):
        t0 = time.perf_counter()
        lr = scheduler.get_last_lr()[0]
        loss_value = 0.0
        for micro in range(config.grad_accumulation):
            batch = plan.local_batch(step, micro, env.rank)
            if engine is not None:  # DDP: its hooks all-reduce during the backward pass (not on a no_sync step)
                last = micro == config.grad_accumulation - 1
                with contextlib.nullcontext() if last else engine.no_sync():
                    with _autocast(config, env):
                        loss = engine(batch, env) / config.grad_accumulation
                    # DDP averages the ranks' gradients; a task's loss is its share of the global mean
                    # (summed over ranks), so the backward pass takes world_size times it
                    shared = loss * env.world_size
                    (scaler.scale(shared) if scaler is not None else shared).backward()
                loss_value += loss.item()
                continue
            if config.grad_cache_chunk:  # GradCache: the same gradient, one chunk's activations at a time
                loss_value += task.cached_backward(
                    model, batch, env, config.grad_cache_chunk, config.grad_accumulation,
                    lambda t: (scaler.scale(t) if scaler is not None else t).backward(),
                    lambda: _autocast(config, env))
                continue
            with _autocast(config, env):
                loss = task.loss(model, batch, env) / config.grad_accumulation
            (scaler.scale(loss) if scaler is not None else loss).backward()
            loss_value += loss.item()
        if engine is None:
            all_reduce_gradients(params)
        if scaler is not None:
            scaler.unscale_(optimizer)
        grad_norm = None
        if config.max_grad_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))  # before clipping
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        take_parts = getattr(task, "take_loss_parts", None)  # a task with several terms (joint) logs each
        local_parts = sorted((take_parts() if take_parts else {}).items())  # the same names on every rank
        global_loss, *sums = all_reduce_sums([loss_value, *(value for _, value in local_parts)], env.device)
        parts = {name: total for (name, _), total in zip(local_parts, sums, strict=True)}
        done = step + 1
        if env.is_main and (done % config.log_every == 0 or done == plan.total_steps):
            seconds = time.perf_counter() - t0
            record = {"step": done, "epoch": plan.epoch_of(step), "loss": global_loss, "lr": lr,
                      **({"grad_norm": grad_norm} if grad_norm is not None else {}),
                      "examples_per_s": plan.global_batch * config.grad_accumulation / seconds,
                      "step_s": seconds, "elapsed_s": time.perf_counter() - started, **parts}
            if done == plan.total_steps:  # the main process's peak, this attempt (a resumed run: since resuming)
                record.update(memory.figures(), attempt_first_step=start + 1)
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        if done % report_every == 0 or done == plan.total_steps:
            _say(progress and env.is_main, f"step {done}/{plan.total_steps} loss {global_loss:.4f} lr {lr:.2e}")
        if config.save_every and done % config.save_every == 0 and done < plan.total_steps:
            save_checkpoint(out_dir, done, env, lambda folder: task.save(model, folder),
                            _trainer_state(optimizer, scheduler, scaler), info, config.keep_checkpoints)

    if env.is_main:
        _write_outputs(task, model, out_dir, info)
    barrier()
    return {name: out_dir / name for name in task.outputs}


class _TaskStep(torch.nn.Module):
    """A task's loss on one micro-batch as a module's forward, so that DDP sees the whole step (both towers,
    every forward pass of the step) as one call."""

    def __init__(self, task: Task, model: torch.nn.Module):
        super().__init__()
        self.task = task
        self.model = model

    def forward(self, batch: Any, env: DistEnv) -> torch.Tensor:
        return self.task.loss(self.model, batch, env)


def _ddp(task: Task, model: torch.nn.Module, config: TrainConfig, env: DistEnv) -> Any:
    """The DistributedDataParallel engine for `config.ddp` on several processes, else None (one all-reduce of
    the summed gradients after the step, `all_reduce_gradients`)."""
    if not config.ddp or env.world_size < 2:
        return None
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [env.device.index] if env.device.type == "cuda" else None
    # unused parameters (a pooler the loss never reads) are marked ready instead of stalling the reduction
    return DistributedDataParallel(_TaskStep(task, model), device_ids=device_ids, find_unused_parameters=True)


def _write_outputs(task: Task, model: torch.nn.Module, out_dir: Path, info: dict[str, Any]) -> None:
    """`task.save` into a temporary folder, then each output renamed into place (rank 0 only)."""
    tmp = out_dir / ".outputs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    task.save(model, tmp)
    share_modes(tmp)  # transformers writes model.safetensors 0600: the umask's mode, like any other file
    missing = [name for name in task.outputs if not (tmp / name).is_dir()]
    if missing:
        raise RuntimeError(f"task '{task.name}' did not write its output(s) {', '.join(missing)}")
    for name in task.outputs:
        (tmp / name / TRAINING_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    for name in task.outputs:
        final = out_dir / name
        if final.exists():
            shutil.rmtree(final)  # an unfinished folder (no training_info.json) from elsewhere
        os.replace(tmp / name, final)
    shutil.rmtree(tmp, ignore_errors=True)


def _autocast(config: TrainConfig, env: DistEnv) -> Any:
    if config.mixed_precision == "no":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if config.mixed_precision == "bf16" else torch.float16
    return torch.autocast(device_type=env.device.type, dtype=dtype)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: biases and LayerNorm weights (1-d) are not decayed."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _linear_schedule(warmup: int, total: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return step / warmup  # as transformers' get_linear_schedule_with_warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _trainer_state(optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any) -> dict[str, Any]:
    return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None}


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines after `step` (written by an interrupted run after its last checkpoint)."""
    if not path.exists():
        return
    if step == 0:
        path.unlink()
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a kill
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def _file_digest(path: Path) -> str:
    if not path.is_file():
        raise RqbenchError("file not found", path)
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[rqbench.training] {message}", file=sys.stderr, flush=True)


def enable_gradient_checkpointing(model: torch.nn.Module) -> int:
    """Turn on activation checkpointing in every Hugging Face encoder inside `model` (both towers, the
    re-ranker); returns how many. Exact: torch's non-reentrant checkpoint replays the saved RNG state, so
    dropout masks and gradients are those of the plain backward pass (tested)."""
    done: set[int] = set()  # modules inside an encoder already switched on (a classifier's own encoder)
    count = 0
    for module in model.modules():  # parents before their children
        supported = getattr(module, "supports_gradient_checkpointing", False)
        # transformers 5 names it activation checkpointing (the older name warns); earlier releases only the old
        enable = getattr(module, "activation_checkpointing_enable", None)
        legacy = hasattr(module, "gradient_checkpointing_enable")
        if id(module) in done or not supported or (enable is None and not legacy):
            continue
        if not any(p.requires_grad for p in module.parameters()):  # frozen (static distillation): no backward
            done |= {id(m) for m in module.modules()}
            continue
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        done |= {id(m) for m in module.modules()}
        count += 1
    return count
