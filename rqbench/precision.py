"""Numeric precision of model forward passes: "auto" resolved per machine, and the autocast it means.

"auto" is the fast default: bf16 autocast where the hardware computes bf16 natively (a CUDA GPU that
supports it; a CPU with AVX512-BF16 or AMX-BF16, where oneDNN runs bf16 matmuls at about twice the fp32
rate), fp16 on an older CUDA GPU, else fp32. The resolved value, never "auto", is what parameters hold
and artifacts hash: bf16 changes embeddings slightly (cosine to fp32 >= 0.9999 on real passages), so two
machines that resolve differently build different artifacts. `RQBENCH_PRECISION=fp32` (or any value)
overrides what "auto" resolves to, e.g. to reproduce fp32 artifacts on a bf16 machine.

Importing this module loads no torch; only resolving for a CUDA device and `autocast_for` do.
"""

from __future__ import annotations

import contextlib
import os
from functools import cache
from pathlib import Path
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


@cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo, e.g. macOS)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"flags", "Features"}:
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU has bf16 dot-product instructions (AVX512-BF16 or AMX-BF16)."""
    return bool(_CPU_BF16_FLAGS & (cpu_flags() if flags is None else flags))


def resolve_precision(requested: str, device: str = "cpu", *, flags: frozenset[str] | None = None) -> str:
    """"fp32", "bf16" or "fp16" for `requested` on `device`; "auto" picks the fastest faithful one."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    override = os.environ.get("RQBENCH_PRECISION")
    if override:
        if override not in PRECISIONS[1:]:
            raise ValueError(f"RQBENCH_PRECISION must be fp32, bf16 or fp16, got {override!r}")
        return override
    kind = device.split(":", 1)[0]
    if kind == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "fp32"  # the device check reports the missing GPU
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if kind == "cpu":
        return "bf16" if cpu_has_native_bf16(flags) else "fp32"
    return "fp32"  # mps and others: fp32 until measured


def autocast_for(precision: str, device_type: str) -> Any:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision not in ("bf16", "fp16"):
        raise ValueError(f"resolve the precision first (got {precision!r})")
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device_type, dtype=dtype)
