"""Benchmark: cross-encoder scoring with rqbench's `CrossEncoder.score` against sentence-transformers'
`CrossEncoder.predict`, on the same model, pairs, batch size, max length and torch threads.

The model is the packaged all-MiniLM-L6-v2 with a new, seeded 1-label head (what
`CrossEncoder.load("minilm")` builds), saved to a temporary folder and loaded from there by both
libraries. sentence-transformers gets an identity activation, so both return raw logits. Pairs: each of
the first N SciFact test queries with its judged passages plus random others (seeded), 10 passages each,
passage = title + " " + text.

Contenders: sentence-transformers fp32, rqbench fp32, and rqbench's default path (precision "auto",
resolved per machine: bf16 autocast with pre-cast Linear weights where the CPU has AVX512-BF16, else
fp32). Each runs one warm-up batch, then they alternate over `--reps` rounds so drift in machine speed
hits all alike; the best round counts. Reported: pairs/s, ratios against sentence-transformers, score
agreement (rqbench fp32 vs sentence-transformers, default vs fp32), padding efficiency of each batching
order, and achieved GFLOP/s (FLOPs per token from the model config, real token counts) against the
machine's peak (`machine.py`). The JSON's "headline" is the default path's ratio to sentence-transformers.

    python benchmarks/cross_encoder_score.py --n-queries 40 --reps 3 --threads 2 --out ce.json

The defaults take about 2.5 minutes on 2 idle cores. On a shared machine other processes slow some
rounds more than others (the 1-minute load average before and after is recorded): read the figures
as indicative, and rerun when the load was high.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import achieved, encoder_gflop, peak_gflops
from scipy.stats import kendalltau, spearmanr

from rqbench.models.cross_encoder import CrossEncoder
from rqbench.precision import cpu_flags

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("RQBENCH_TEST_DATA", REPO_ROOT.parent / "shared" / "data")) / "scifact"
ST_NAME = "sentence-transformers CrossEncoder.predict (fp32)"


def read_pairs(folder: Path, n_queries: int, per_query: int, seed: int) -> tuple[list[tuple[str, str]], list[int]]:
    """(pairs, query index of each pair): the first `n_queries` test queries, judged passages first."""
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            o = json.loads(line)
            queries[o["_id"]] = o["text"]
    docs = {}
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            o = json.loads(line)
            docs[o["_id"]] = f"{o['title']} {o['text']}" if o.get("title") else o["text"]
    judged: dict[str, list[str]] = {}
    with (folder / "qrels" / "test.tsv").open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, _ = line.split("\t")
            judged.setdefault(qid, []).append(did)
    rng = random.Random(seed)
    doc_ids = sorted(docs)
    pairs, qindex = [], []
    for n, qid in enumerate(list(judged)[:n_queries]):
        chosen = judged[qid][:per_query]
        while len(chosen) < per_query:
            did = rng.choice(doc_ids)
            if did not in chosen:
                chosen.append(did)
        pairs += [(queries[qid], docs[did]) for did in chosen]
        qindex += [n] * len(chosen)
    return pairs, qindex


def padding_efficiency(lengths: np.ndarray, order: np.ndarray, batch_size: int) -> float:
    """Real tokens / computed tokens when batches of `batch_size` are cut from `order`, each padded."""
    computed = sum(len(rows) * int(lengths[rows].max())
                   for rows in (order[i:i + batch_size] for i in range(0, len(order), batch_size)))
    return float(lengths.sum() / computed)


def agreement(a: np.ndarray, b: np.ndarray, qindex: list[int]) -> dict[str, float]:
    """How closely scores `a` follow `b`: max abs diff, rank correlations, same top passage per query."""
    q = np.asarray(qindex)
    top_same = [int(np.argmax(a[q == n]) == np.argmax(b[q == n])) for n in np.unique(q)]
    return {"max_abs_diff": float(np.abs(a - b).max()), "spearman": float(spearmanr(a, b)[0]),
            "kendall": float(kendalltau(a, b)[0]), "same_top1_per_query": float(np.mean(top_same))}


def measure(args: argparse.Namespace, pairs: list[tuple[str, str]], folder: str
            ) -> tuple[CrossEncoder, dict[str, list[float]], dict[str, np.ndarray]]:
    """Load the saved model both ways, warm each contender up, then time them in alternation."""
    from sentence_transformers import CrossEncoder as STCrossEncoder

    ours = CrossEncoder.load(folder)
    st = STCrossEncoder(folder, max_length=args.max_length, device="cpu", activation_fn=torch.nn.Identity())

    def run_st(batch: list[tuple[str, str]]) -> np.ndarray:
        return np.asarray(st.predict(batch, batch_size=args.batch_size, show_progress_bar=False), dtype=np.float32)

    contenders = {
        "sentence-transformers fp32": run_st,
        "rqbench fp32": lambda batch: ours.score(batch, args.batch_size, precision="fp32"),
        "rqbench default": lambda batch: ours.score(batch, args.batch_size, precision="auto"),
    }
    for run in contenders.values():  # warm-up: first-call allocations, oneDNN primitives, the bf16 twin
        run(pairs[:args.batch_size])
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    scores: dict[str, np.ndarray] = {}
    for _ in range(args.reps):
        for name, run in contenders.items():
            start = time.perf_counter()
            scores[name] = run(pairs)
            timings[name].append(time.perf_counter() - start)
    ours.score(pairs[:1], precision="auto")  # leaves the default path's precision in resolved_precision
    return ours, timings, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SciFact folder (BEIR layout)")
    ap.add_argument("--n-queries", type=int, default=40)
    ap.add_argument("--per-query", type=int, default=10, help="passages per query (judged ones first)")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    pairs, qindex = read_pairs(args.data, args.n_queries, args.per_query, args.seed)
    with tempfile.TemporaryDirectory(prefix="rqbench-ce-bench-") as folder:
        CrossEncoder.load("minilm", max_length=args.max_length).save(folder)
        ours, timings, scores = measure(args, pairs, folder)
    default_path = ours.resolved_precision or "fp32"

    lengths = ours.token_lengths(pairs)
    char_order = np.argsort([-(len(q) + len(p)) for q, p in pairs], kind="stable")
    gflop = encoder_gflop(ours.model.config, lengths)
    peak = peak_gflops(args.threads)
    best = {name: min(t) for name, t in timings.items()}
    speeds = {name: len(pairs) / s for name, s in best.items()}
    st_speed = speeds["sentence-transformers fp32"]

    def peak_of(name: str) -> float | None:
        low = name == "rqbench default" and default_path == "bf16"
        return peak["bf16"] if low else peak["fp32"]

    result: dict[str, Any] = {
        "headline": {"ratio": speeds["rqbench default"] / st_speed, "contender": ST_NAME, "path": default_path},
        "pairs": len(pairs), "queries": len(set(qindex)), "max_length": args.max_length,
        "batch_size": args.batch_size, "threads": args.threads, "reps": args.reps, "torch": torch.__version__,
        "cpu": peak["model"] or platform.processor() or platform.machine(),
        "default_path": {"precision": default_path, "cpu_bf16_flags": sorted(cpu_flags() & {"avx512_bf16",
                                                                                             "amx_bf16"}),
                         "how": "bf16 autocast, Linear weights pre-cast to bf16 once" if default_path == "bf16"
                         else f"{default_path} (autocast)" if default_path != "fp32" else "fp32 eager"},
        "mean_tokens": float(lengths.mean()), "share_at_max_length": float((lengths == args.max_length).mean()),
        "padding_efficiency": {
            "token_sorted (rqbench)": padding_efficiency(lengths, np.argsort(-lengths, kind="stable"),
                                                         args.batch_size),
            "char_sorted (sentence-transformers)": padding_efficiency(lengths, char_order, args.batch_size),
            "unsorted": padding_efficiency(lengths, np.arange(len(pairs)), args.batch_size),
        },
        "seconds": timings, "pairs_per_s": speeds,
        "ratio_vs_sentence_transformers": {name: s / st_speed for name, s in speeds.items()},
        "agreement": {
            "rqbench fp32 vs sentence-transformers": agreement(scores["rqbench fp32"],
                                                               scores["sentence-transformers fp32"], qindex),
            "rqbench default vs rqbench fp32": agreement(scores["rqbench default"], scores["rqbench fp32"], qindex),
            "fp32_score_std": float(scores["rqbench fp32"].std()),
        },
        "gflop_real_tokens": gflop,
        "gflops": {name: {**achieved(gflop, s, peak_of(name)), "peak": peak_of(name)} for name, s in best.items()},
        "machine_peak": peak,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
