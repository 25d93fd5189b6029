"""Peak memory of a training run, as figures for its log (RocketQAv2's cost per list length K).

On Linux the process's peak resident set (VmHWM) can be reset (`/proc/self/clear_refs`, value 5), so a
training that runs inside a longer-lived process (a suite that loaded a JVM and indexes before it) measures
its own peak; the resident set at the reset is recorded beside it, so the training's own growth is
their difference. Where the reset is not possible the peak is the process's since it started
(`peak_reset` is False in the figures; a reset the kernel accepted but ignored counts as none). On CUDA the
allocator's peak (tensors, and what its cache reserved) is reset and read too. The figures are this process's:
with several processes, the main one's; with a suite's `--jobs > 1`, stages built beside the training in the
same process count too.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mib(field: str) -> float | None:
    """A `/proc/self/status` field (kB) in MiB; None where there is no such file (not Linux)."""
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mib() -> float | None:
    """The process's peak resident set in MiB since the last reset (or start); None where unknown."""
    found = _status_mib("VmHWM")
    if found is not None:
        return found
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, kB elsewhere
        return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)
    except (ImportError, OSError):
        return None


class PeakMemory:
    """Reset the peaks at construction; `figures()` gives what was reached since, for the log."""

    def __init__(self, device: torch.device):
        self.device = device
        with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak is then the process's
            _CLEAR_REFS.write_text("5", encoding="ascii")
        self.start_rss_mib = _status_mib("VmRSS")
        peak = _status_mib("VmHWM")
        # a sandbox may accept the write and ignore it: the reset counts only if the peak fell to about now
        self.reset = bool(peak and self.start_rss_mib and peak <= 1.02 * self.start_rss_mib + 8)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {"peak_rss_mib": peak_rss_mib(), "start_rss_mib": self.start_rss_mib,
                               "peak_reset": self.reset}
        if self.device.type == "cuda":
            out["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
            out["cuda_reserved_mib"] = round(torch.cuda.max_memory_reserved(self.device) / 2**20, 1)
        return out
