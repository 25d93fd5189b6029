"""Data-parallel plumbing: the torchrun environment, gradient all-reduce, barriers, and `launch`.

Owns everything that knows there may be several processes. A training run started by ``torchrun``
(or `launch`, which runs ``python -m torch.distributed.run --standalone --nproc-per-node N -m module``)
finds RANK / WORLD_SIZE / LOCAL_RANK in its environment; `init_from_env` then joins the process group
(gloo on CPU, nccl on CUDA). Without those variables everything here degrades to one process and
does no communication.

Gradients are all-reduced by hand (`all_reduce_gradients`, one flattened buffer, SUM) instead of through
DistributedDataParallel: the shared-tower dual encoder runs its module twice per step (queries, then
passages), gradient accumulation needs the reduction only at the accumulation boundary, and a plain SUM
is the reduction the cross-batch loss is scaled for (see `losses`).

`python -m rqbench.training.distributed probe OUT_DIR` (under torchrun) writes one JSON file per rank
with its rank, world size and the result of an all_reduce: a check that multi-process training works.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from rqbench.errors import RqbenchError


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A tokenized batch's tensors on `device`."""
    return {k: v.to(device) for k, v in batch.items()}


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda:<local rank> when CUDA is available, else cpu; 'cuda' gets the local rank's GPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RqbenchError("device 'cuda' asked for, but torch sees no CUDA GPU")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(device)


def init_from_env(device: str = "auto", timeout_s: float = 1800.0) -> DistEnv:
    """Join the process group torchrun describes in the environment (idempotent); one process without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    return DistEnv(rank, world, local_rank, dev)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_gradients(params: Iterable[torch.nn.Parameter], op: str = "sum") -> None:
    """Sum (or average, op="mean") the .grad of `params` over all processes, in one flattened buffer per dtype.

    Parameters without a gradient (unused by the forward, e.g. an HF pooler the dual encoder never
    calls) are left alone, as a single process would leave them; every process must therefore use
    the same parameters, which a second tiny all_reduce checks (a mismatch is an error, not a hang).
    """
    if not is_distributed():
        return
    with_grad = [p for p in params if p.grad is not None]
    count = torch.tensor([sum(p.numel() for p in with_grad)], dtype=torch.float64,
                         device=with_grad[0].grad.device if with_grad else None)  # type: ignore[union-attr]
    low, high = count.clone(), count.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if low.item() != high.item():
        raise RuntimeError("processes computed gradients for different parameters; cannot all-reduce them")
    by_dtype: dict[torch.dtype, list[torch.nn.Parameter]] = {}
    for p in with_grad:
        by_dtype.setdefault(p.grad.dtype, []).append(p)  # type: ignore[union-attr]
    for group in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in group])  # type: ignore[union-attr]
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        if op == "mean":
            flat /= dist.get_world_size()
        offset = 0
        for p in group:
            n = p.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p))  # type: ignore[union-attr]
            offset += n


def all_reduce_sum(value: float, device: torch.device | None = None) -> float:
    """The sum of a Python number over all processes (the number itself with one process)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device or torch.device("cpu"))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())


def all_reduce_sums(values: list[float], device: torch.device | None = None) -> list[float]:
    """The sums of several Python numbers over all processes, in one collective."""
    if not is_distributed():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device or torch.device("cpu"))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(x) for x in t.tolist()]


def broadcast_object(obj: object, src: int = 0) -> object:
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# torchrun options that describe a multi-machine rendezvous: given any, `--standalone` is left out.
RENDEZVOUS_OPTIONS = ("--nnodes", "--node-rank", "--rdzv-endpoint", "--rdzv-id", "--rdzv-backend", "--master-addr")


def _is_rendezvous_option(arg: str) -> bool:
    name = arg.split("=", 1)[0].replace("_", "-")
    return name in RENDEZVOUS_OPTIONS


def torchrun_command(nproc: int, module: str, args: Sequence[str], python: str | None = None,
                     torchrun_args: Sequence[str] = ()) -> list[str]:
    """``python -m torch.distributed.run [--standalone] [torchrun_args] --nproc-per-node N -m module args``.

    `--standalone` (a single machine, a private rendezvous) unless `torchrun_args` describe a
    multi-machine rendezvous (--nnodes, --node-rank, --rdzv-endpoint, --rdzv-id, --rdzv-backend).
    """
    standalone = [] if any(_is_rendezvous_option(a) for a in torchrun_args) else ["--standalone"]
    return [python or sys.executable, "-m", "torch.distributed.run", *standalone, *torchrun_args,
            "--nproc-per-node", str(nproc), "-m", module, *args]


def launch(nproc: int, module: str, args: Sequence[str], env: dict[str, str] | None = None,
           echo: Callable[[str], None] | None = None, cwd: str | Path | None = None,
           torchrun_args: Sequence[str] = ()) -> int:
    """Run ``python -m torch.distributed.run --standalone --nproc-per-node N -m module args...``.

    `torchrun_args` go to torchrun before `--nproc-per-node` (see `torchrun_command`).

    Output (stdout and stderr of torchrun and every rank, merged) is streamed line by line to `echo`
    (default: this process's stdout) while it runs. Returns torchrun's exit code (0 when every rank
    succeeded). The package folder holding `rqbench` is put on the children's PYTHONPATH, so a source
    checkout works without installing. Ctrl-C stops torchrun, which stops its ranks.
    """
    if nproc < 1:
        raise RqbenchError(f"nproc must be >= 1, got {nproc}")
    child_env = dict(os.environ if env is None else env)
    root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, child_env.get("PYTHONPATH", "")) if p)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    if echo is None:
        def echo(line: str) -> None:
            sys.stdout.write(line)
            sys.stdout.flush()
    command = torchrun_command(nproc, module, args, torchrun_args=torchrun_args)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env,
                            cwd=cwd, bufsize=1)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            echo(line)
        return proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def _probe(out_dir: Path) -> None:
    env = init_from_env("cpu")
    t = torch.tensor([float(env.rank + 1)])
    if is_distributed():
        dist.all_reduce(t)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"rank-{env.rank}.json").write_text(json.dumps(
        {"rank": env.rank, "world_size": env.world_size, "local_rank": env.local_rank,
         "all_reduce_sum": float(t.item()), "pid": os.getpid()}), encoding="utf-8")
    barrier()
    destroy()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "probe":
        sys.exit("usage: python -m rqbench.training.distributed probe OUT_DIR   (under torchrun)")
    _probe(Path(sys.argv[2]))
