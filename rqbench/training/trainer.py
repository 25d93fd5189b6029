"""train_dual_encoder: the training loop of the dual encoder (RocketQA, arXiv 2010.08191, section 4).

Owns the loop and nothing else: the data order is `batches`, the loss `losses`, the process plumbing
`distributed`, the checkpoint format `checkpoints`. Per optimizer step, on every process:

1. for each of `grad_accumulation` micro-batches: encode the process's queries and its passage pool
   (one positive per query, then `hard_negatives_per_query` negatives per query), compute the in-batch
   or cross-batch loss (divided by world size x accumulation, see `losses`), backward;
2. sum the gradients over processes, unscale (fp16), clip to `max_grad_norm`, AdamW step, scheduler step.

AdamW (no decay on biases / LayerNorm weights), linear warmup over `warmup_ratio` of the steps then
linear decay to zero, gradient clipping, seeded order, optional bf16/fp16 autocast. Accumulation does
not enlarge the negative pool (see `config`). A query's other judged positives found in the pool (two
queries sharing a relevant document in one batch) are excluded from its softmax rather than used as
negatives.

Output folder: ``train_log.jsonl`` (step, epoch, loss, lr, examples/s, elapsed), ``checkpoint-<step>``
folders (every `save_every` steps; the run resumes from the newest), and the final model in ``model/``
(written with `DualEncoder.save`, atomically). A folder that already has ``model/`` is returned as is.
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

from rqbench.dense.model import ENCODER_CONFIG, DualEncoder, EncoderConfig
from rqbench.errors import RqbenchError
from rqbench.training.batches import BatchPlan, LocalBatch
from rqbench.training.checkpoints import (
    latest_checkpoint,
    load_trainer_state,
    read_checkpoint_info,
    remove_stale_tmp,
    save_checkpoint,
    set_rng_state,
)
from rqbench.training.config import RESUME_MAY_CHANGE, TrainConfig
from rqbench.training.distributed import DistEnv, all_reduce_gradients, all_reduce_sum, barrier, init_from_env
from rqbench.training.groups import read_groups
from rqbench.training.losses import cross_batch_loss, in_batch_loss

__all__ = ["TrainConfig", "train_dual_encoder"]

LOG_FILE = "train_log.jsonl"
FINAL_MODEL = "model"


def train_dual_encoder(groups_path: str | Path, config: TrainConfig, out_dir: str | Path,
                       progress: bool = True) -> Path:
    """Train on the groups in `groups_path`; returns ``out_dir/model``. Call it on every rank under torchrun."""
    out_dir = Path(out_dir)
    final = out_dir / FINAL_MODEL
    created_group = not torch.distributed.is_initialized()
    threads = torch.get_num_threads()
    env = init_from_env(config.device)
    try:
        if (final / ENCODER_CONFIG).exists():
            return final
        return _train(Path(groups_path), config, out_dir, env, progress)
    finally:
        torch.set_num_threads(threads)  # `config.threads` is process-wide: do not leak it to the caller
        if created_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _train(groups_path: Path, config: TrainConfig, out_dir: Path, env: DistEnv, progress: bool) -> Path:
    if config.mixed_precision == "fp16" and env.device.type != "cuda":
        raise RqbenchError("mixed_precision 'fp16' needs a CUDA device; use 'bf16' or 'no' on CPU")
    if config.threads:
        torch.set_num_threads(config.threads)
    groups = read_groups(groups_path)
    digest = _file_digest(groups_path)
    plan = BatchPlan(groups, config.batch_size, env.world_size, config.grad_accumulation, config.epochs,
                     config.max_steps, config.hard_negatives_per_query, config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if env.is_main:
        remove_stale_tmp(out_dir)
    barrier()

    resume = latest_checkpoint(out_dir)
    info = {"world_size": env.world_size, "total_steps": plan.total_steps, "groups_sha256": digest,
            "config": config.to_dict()}
    if resume is not None:
        _check_resumable(resume[1], info)
    model = _load_model(str(resume[1]) if resume else config.model, config).to(env.device)
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
    _say(progress and env.is_main,
         f"training {plan.total_steps} steps ({plan.steps_per_epoch}/epoch) on {len(groups)} groups, "
         f"{env.world_size} process(es), global batch {plan.global_batch}, "
         f"{config.negatives} negatives" + (f", resuming at step {start}" if start else ""))

    params = [p for p in model.parameters() if p.requires_grad]
    started = time.perf_counter()
    report_every = max(1, plan.total_steps // 20)
    for step in range(start, plan.total_steps):
        t0 = time.perf_counter()
        lr = scheduler.get_last_lr()[0]
        loss_value = 0.0
        for micro in range(config.grad_accumulation):
            batch = plan.local_batch(step, micro, env.rank)
            loss = _micro_batch_loss(model, batch, config, env) / config.grad_accumulation
            (scaler.scale(loss) if scaler is not None else loss).backward()
            loss_value += loss.item()
        all_reduce_gradients(params)
        if scaler is not None:
            scaler.unscale_(optimizer)
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        global_loss = all_reduce_sum(loss_value, env.device)
        done = step + 1
        if env.is_main and (done % config.log_every == 0 or done == plan.total_steps):
            seconds = time.perf_counter() - t0
            record = {"step": done, "epoch": plan.epoch_of(step), "loss": global_loss, "lr": lr,
                      "examples_per_s": plan.global_batch * config.grad_accumulation / seconds,
                      "step_s": seconds, "elapsed_s": time.perf_counter() - started}
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        if done % report_every == 0 or done == plan.total_steps:
            _say(progress and env.is_main, f"step {done}/{plan.total_steps} loss {global_loss:.4f} lr {lr:.2e}")
        if config.save_every and done % config.save_every == 0 and done < plan.total_steps:
            save_checkpoint(out_dir, done, env, model, _trainer_state(optimizer, scheduler, scaler), info,
                            config.keep_checkpoints)

    final = out_dir / FINAL_MODEL
    if env.is_main:
        tmp = out_dir / f".{FINAL_MODEL}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(tmp)
        (tmp / "training_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)  # an incomplete folder (no rqbench_encoder.json) from elsewhere
        os.replace(tmp, final)
    barrier()
    return final


def _micro_batch_loss(model: DualEncoder, batch: LocalBatch, config: TrainConfig, env: DistEnv) -> torch.Tensor:
    device = env.device
    autocast: Any = contextlib.nullcontext()
    if config.mixed_precision != "no":
        dtype = torch.bfloat16 if config.mixed_precision == "bf16" else torch.float16
        autocast = torch.autocast(device_type=device.type, dtype=dtype)
    with autocast:
        q = model(_to(model.tokenize(batch.queries, "query"), device), "query")
        p = model(_to(model.tokenize([x.text for x in batch.pool], "passage"), device), "passage")
    pos_index = torch.tensor(batch.pos_index, dtype=torch.long, device=device)
    cross = config.negatives == "cross-batch" and env.world_size > 1
    pool_ids = batch.global_pool_ids if cross else [x.id for x in batch.pool]
    exclude = torch.tensor([[pid in positives for pid in pool_ids] for positives in batch.query_positive_ids],
                           dtype=torch.bool, device=device)
    if cross:
        return cross_batch_loss(q, p, pos_index, None, config.scale, exclude, grad_reduction="sum")
    # in-batch negatives on several processes: the local mean, scaled so that summed gradients average
    return in_batch_loss(q, p, pos_index, config.scale, exclude) / env.world_size


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def _load_model(name: str, config: TrainConfig) -> DualEncoder:
    model = DualEncoder.load(name)
    model.config = EncoderConfig(pooling=config.pooling, normalize=config.normalize, shared=model.config.shared,
                                 max_query_length=config.max_query_length,
                                 max_passage_length=config.max_passage_length)
    return model


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


def _check_resumable(checkpoint: Path, info: dict[str, Any]) -> None:
    saved = read_checkpoint_info(checkpoint)
    if saved.get("world_size") != info["world_size"]:
        raise RqbenchError(f"checkpoint was written by {saved.get('world_size')} process(es), this run has "
                           f"{info['world_size']}; the data order would differ (remove the checkpoints to "
                           "start over)", checkpoint)
    if saved.get("groups_sha256") != info["groups_sha256"]:
        raise RqbenchError("checkpoint was trained on another groups file", checkpoint)
    old, new = saved.get("config", {}), info["config"]
    changed = sorted(k for k in set(old) | set(new) if k not in RESUME_MAY_CHANGE and old.get(k) != new.get(k))
    if changed:
        raise RqbenchError("checkpoint was trained with other settings (" + ", ".join(
            f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed) + ")", checkpoint)


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
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[rqbench.training] {message}", file=sys.stderr, flush=True)


def steps_for(n_groups: int, config: TrainConfig, world_size: int = 1) -> int:
    """How many optimizer steps a run over `n_groups` groups takes."""
    per_epoch = n_groups // (config.batch_size * world_size) // config.grad_accumulation
    return config.max_steps if config.max_steps > 0 else per_epoch * config.epochs

