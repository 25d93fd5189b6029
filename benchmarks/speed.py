"""The three speed ratios of issue 9 side by side, in one run: corpus encoding, cross-encoder scoring and
dual-encoder training, each rqbench's default path against sentence-transformers on the same model,
batch size, max length and threads (contenders alternate inside each benchmark, best round counts).

Runs `dense_encode.py`, `cross_encoder_score.py` and `de_training.py` one after the other (each in its own
processes), writes their JSON next to `--out`, and collects their `headline` fields, with the machine's
load before and after, into `--out`:

    python benchmarks/speed.py --out reports/benchmarks/speed.json

Run it on a quiet machine: the figures are wall-clock rates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# (name, script, arguments): the settings the committed figures use
BENCHMARKS: list[tuple[str, str, list[str]]] = [
    ("encoding", "dense_encode.py", ["--n", "240", "--max-length", "256", "--batch-size", "32", "--threads", "2",
                                     "--reps", "2"]),
    ("cross-encoder scoring", "cross_encoder_score.py", ["--n-queries", "40", "--per-query", "10", "--max-length",
                                                         "256", "--batch-size", "32", "--threads", "2", "--reps", "3"]),
    ("dual-encoder training", "de_training.py", ["--steps", "24", "--warmup-steps", "3", "--batch-size", "32",
                                                 "--max-length", "128", "--threads", "2", "--reps", "2"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="the summary JSON; each benchmark's JSON goes beside it")
    ap.add_argument("--only", choices=[b[0] for b in BENCHMARKS], action="append", help="run only these")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"benchmarks": {}}
    for name, script, extra in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        out = args.out.parent / script.replace(".py", ".json")
        cmd = [sys.executable, str(HERE / script), *extra, "--out", str(out)]
        load = os.getloadavg()[0]
        started = time.perf_counter()
        print(f"== {name}: python benchmarks/{script} {' '.join(extra)}", flush=True)
        subprocess.run(cmd, check=True)
        result = json.loads(out.read_text())
        summary["benchmarks"][name] = {
            "command": f"python benchmarks/{script} {' '.join(extra)} --out {out.name}",
            "headline": result.get("headline"), "seconds": round(time.perf_counter() - started, 1),
            "load_avg_1m_before": load, "load_avg_1m_after": os.getloadavg()[0], "json": out.name,
        }
    print("\n| benchmark | default path | contender | ratio |\n|---|---|---|---:|")
    for name, b in summary["benchmarks"].items():
        h = b["headline"] or {}
        print(f"| {name} | {h.get('path', '-')} | {h.get('contender', '-')} | {h.get('ratio', float('nan')):.2f} |")
    args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
