"""What a benchmark's speed means on this machine: the CPU's peak FLOP rate and an encoder's FLOPs.

Import it from any benchmark script (``benchmarks/`` is on ``sys.path`` when one runs)::

    from machine import achieved, encoder_gflop, peak_gflops

    peak = peak_gflops(threads)                       # {"fp32": GFLOP/s, "bf16": GFLOP/s or None, ...}
    gflop = encoder_gflop(model.config, lengths)      # real token counts, no padding
    result["gflops"] = achieved(gflop, best_seconds, peak["bf16"] or peak["fp32"])

The peak is cores x FMA units x fp32 lanes per unit x 2 (an FMA is two FLOPs) x clock, from ``lscpu``
(and ``/proc/cpuinfo`` for the clock where lscpu has none, as in many VMs). It is an estimate, and the
assumptions are returned with it (key ``assumptions``):

* 2 FMA units per core (Intel Skylake-SP and later server parts, AMD Zen 2-5; some Intel client and
  Xeon Bronze/Silver parts have one AVX-512 FMA unit, so their real peak is half);
* lanes: AVX-512 gives 16 fp32 lanes per unit, except on AMD family 25 (Zen 3/4), whose FMA units are
  256 bits wide and run AVX-512 in two halves (8 lanes per unit); AVX2 gives 8;
* the clock is the max MHz when lscpu gives one, else the current one (a VM's often shows the base
  clock, so turbo can exceed the peak);
* bf16 peak = 2 x fp32 where the CPU has AVX512-BF16: VDPBF16PS does two bf16 products per fp32 lane
  (AMX tiles, far faster, are not modelled).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["achieved", "bert_flops_per_token", "encoder_gflop", "parse_lscpu", "peak_gflops"]


def parse_lscpu(text: str) -> dict[str, str]:
    """``lscpu`` output as {field: value} (field names as lscpu prints them, e.g. "Model name")."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _run_lscpu() -> str:
    try:
        return subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpuinfo_mhz(cpuinfo: str) -> float | None:
    match = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", cpuinfo, flags=re.MULTILINE)
    return float(match.group(1)) if match else None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def peak_gflops(threads: int, lscpu_text: str | None = None, cpuinfo_text: str | None = None) -> dict[str, Any]:
    """Peak fp32 (and bf16) GFLOP/s of `threads` threads (at most one per physical core counts).

    `lscpu_text` / `cpuinfo_text` default to running ``lscpu`` / reading ``/proc/cpuinfo`` (give them to
    test). Keys: model, mhz, mhz_source, cores, fma_units, fp32_lanes_per_unit, fp32_flops_per_cycle,
    fp32, bf16 (None without AVX512-BF16), assumptions. fp32 is None when nothing could be read.
    """
    info = parse_lscpu(_run_lscpu() if lscpu_text is None else lscpu_text)
    flags = set(info.get("Flags", "").split())
    physical = int(_number(info.get("Core(s) per socket")) or 0) * int(_number(info.get("Socket(s)")) or 1)
    cores = max(1, min(threads, physical) if physical else threads)
    mhz, source = _number(info.get("CPU max MHz")), "lscpu CPU max MHz"
    if mhz is None:
        mhz, source = _number(info.get("CPU MHz")), "lscpu CPU MHz (current)"
    if mhz is None:
        if cpuinfo_text is None:
            try:
                cpuinfo_text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
            except OSError:
                cpuinfo_text = ""
        mhz, source = _cpuinfo_mhz(cpuinfo_text), "/proc/cpuinfo cpu MHz (current)"
    amd_256bit = info.get("Vendor ID") == "AuthenticAMD" and info.get("CPU family") == "25"
    if "avx512f" in flags:
        lanes, isa = (8, "AVX-512 on 256-bit units (AMD Zen 3/4)") if amd_256bit else (16, "AVX-512")
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "AVX2"
    else:
        lanes, isa = 4, "SSE (no FMA: counted as if it had one)"
    fma_units = 2
    per_cycle = 2 * fma_units * lanes
    fp32 = cores * per_cycle * mhz / 1000 if mhz else None
    has_bf16 = "avx512_bf16" in flags
    return {
        "model": info.get("Model name"), "mhz": mhz, "mhz_source": source if mhz else None,
        "cores": cores, "isa": isa, "fma_units": fma_units, "fp32_lanes_per_unit": lanes,
        "fp32_flops_per_cycle": per_cycle, "fp32": fp32, "bf16": 2 * fp32 if fp32 and has_bf16 else None,
        "assumptions": "2 FMA units per core; peak = cores x FMA units x fp32 lanes x 2 x clock; bf16 = 2 x "
                       "fp32 with AVX512-BF16 (VDPBF16PS), AMX not modelled; see benchmarks/machine.py",
    }


def _field(config: Any, name: str) -> int:
    value = config.get(name) if isinstance(config, Mapping) else getattr(config, name)
    return int(value)


def bert_flops_per_token(config: Any, seq_len: int) -> float:
    """Forward FLOPs per token of a BERT-style encoder over sequences of `seq_len` tokens.

    Per layer and token: 2 x (4h^2 + 2hi) for the Q, K, V, output and two feed-forward matmuls, plus
    2 x 2 x seq_len x h for the attention scores (QK^T) and their weighted sum (AV); a matmul's
    multiply-add counts as 2 FLOPs. With i = 4h this is Narayanan et al. 2021 ("Efficient Large-Scale
    Language Model Training on GPU Clusters Using Megatron-LM", SC'21): 24sh^2 + 4s^2h per layer and
    sequence. Embedding lookups, layer norms, softmax, GELU and the head are left out (a few percent).
    `config`: an HF config or a mapping with hidden_size, intermediate_size and num_hidden_layers.
    """
    h, i, layers = (_field(config, k) for k in ("hidden_size", "intermediate_size", "num_hidden_layers"))
    return float(layers * (2 * (4 * h * h + 2 * h * i) + 2 * 2 * seq_len * h))


def encoder_gflop(config: Any, lengths: Iterable[int]) -> float:
    """GFLOP of one forward pass over sequences of these real (unpadded) token lengths."""
    return sum(n * bert_flops_per_token(config, n) for n in (int(x) for x in lengths)) / 1e9


def achieved(gflop: float, seconds: float, peak: float | None = None) -> dict[str, float | None]:
    """{"gflop_per_s": gflop / seconds, "share_of_peak": that / peak (None without a peak)}."""
    rate = gflop / seconds
    return {"gflop_per_s": rate, "share_of_peak": rate / peak if peak else None}
