"""RocketQAv2's joint training: seconds a step and peak memory per list length K, each K in a fresh process.

The joint task (`rqbench.training.tasks.joint`) trains the packaged all-MiniLM-L6-v2 as the retriever (lengths
64/128, mean pooling, cosine x 20) and the same MiniLM with a fresh head as the re-ranker (length 160, as the
paper), on lists of one positive and K - 1 negatives of SciFact training claims (random corpus passages:
the cost depends on the lengths, not on which passages), `--lists` lists a step on one process, fp32 or the
default precision. Per K: the rate over `--steps` steps after `--warmup-steps` (the loop's own step times from
its log), and the process's peak resident memory (VmHWM) against its resident memory when the training loop
began (imports and data loaded; the models load after), so the growth is what training itself holds: both
models' weights and gradients, AdamW's state and the activations of K x lists passages and pairs.

    python benchmarks/joint_training.py --k 4 8 16 --steps 6 --out results/joint_training.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One K in this process: train `warmup_steps + steps` steps and read the log and the memory."""
    import torch

    from rqbench.data import load_dataset
    from rqbench.training.config import LOG_FILE, TrainConfig
    from rqbench.training.groups import groups_from_qrels, write_groups
    from rqbench.training.run import run_training

    k = args.worker
    data = load_dataset("scifact", args.data)
    groups = groups_from_qrels(data, "train", negatives="random", n_negatives=k - 1, seed=0)
    total = args.warmup_steps + args.steps
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "groups.jsonl"
        write_groups(groups[:total * args.lists], path)
        config = TrainConfig(model="minilm", reranker_model="minilm", max_query_length=64, max_passage_length=128,
                             max_length=160, hard_negatives_per_query=k - 1, batch_size=args.lists, epochs=1,
                             lr=2e-5, seed=0, threads=args.threads, mixed_precision=args.precision,
                             save_every=0, log_every=1)
        run_training("joint", path, config, Path(tmp) / "out", progress=False)
        log = [json.loads(line) for line in (Path(tmp) / "out" / LOG_FILE).read_text().splitlines()]
    timed = [line["step_s"] for line in log[args.warmup_steps:]]
    last = log[-1]
    return {"k": k, "lists_per_step": args.lists, "steps_timed": len(timed),
            "seconds_per_step": sum(timed) / len(timed), "pairs_per_second": k * args.lists * len(timed) / sum(timed),
            "peak_rss_mib": last.get("peak_rss_mib"), "start_rss_mib": last.get("start_rss_mib"),
            "peak_reset": last.get("peak_reset"), "threads": torch.get_num_threads()}


def run_worker(k: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", str(k), "--worker-out", str(out), "--data", str(args.data),
               "--steps", str(args.steps), "--warmup-steps", str(args.warmup_steps), "--lists", str(args.lists),
               "--threads", str(args.threads), "--precision", args.precision]
        proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"K = {k} failed:\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8, 16], help="list lengths (1 positive + K-1)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per K")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--lists", type=int, default=4, help="lists per step (the suites' batch)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--precision", default="no", choices=["no", "bf16", "auto"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        args.worker_out.write_text(json.dumps(worker(args)))
        return
    rows = [run_worker(k, args) for k in args.k]
    print(f"joint training, MiniLM + MiniLM, {args.lists} lists a step, {args.threads} threads, precision "
          f"{args.precision}, {platform.processor() or platform.machine()}")
    print(f"{'K':>3} {'s/step':>8} {'pairs/s':>8} {'peak RSS MiB':>13} {'growth MiB':>11}")
    for r in rows:
        growth = r["peak_rss_mib"] - r["start_rss_mib"] if r["peak_reset"] else float("nan")
        print(f"{r['k']:>3} {r['seconds_per_step']:>8.2f} {r['pairs_per_second']:>8.1f} {r['peak_rss_mib']:>13,.0f} "
              f"{growth:>11,.0f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, "settings": {k: str(v) for k, v in vars(args).items()
                                                                   if not k.startswith("worker")}}, indent=2))


if __name__ == "__main__":
    main()
