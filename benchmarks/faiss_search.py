"""Benchmark: faiss indexes as `DenseBackend` builds them (`rqbench.dense.faiss_index`), encode-free.

N random-normal D-dimensional vectors, L2-normalised (so inner product = cosine, as with MiniLM), and Q
query vectors drawn the same way. Each index kind is built and searched in its own subprocess, so its peak
RSS (ru_maxrss) is its own; `rss_mb_data` is the same process's RSS with only the vectors loaded, so
`peak - data` is what building and searching the index cost. Recall@k is measured against `flat`
(exact). Random vectors are a hard case for graph and quantised indexes (no cluster structure): their
recall here is a lower bound on what real embeddings give; `--clusters C` draws the vectors around C
random centres instead, which is closer to real embeddings.

    python benchmarks/faiss_search.py --n 100000 --dim 384 --queries 1000 --kinds flat,hnsw --out faiss.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def vectors(n: int, dim: int, seed: int, clusters: int = 0) -> np.ndarray:
    """Unit vectors: random normal, or (clusters > 0) around that many random centres, which is closer to
    real embeddings; the centres come from a fixed seed so data and queries share them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    if clusters:
        centres = np.random.default_rng(12345).standard_normal((clusters, dim), dtype=np.float32)
        x = centres[rng.integers(0, clusters, size=n)] + 0.5 * x
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(args: argparse.Namespace) -> None:
    """Build and search one index kind; print one JSON line; save the result ids to --ids-out."""
    import faiss

    from rqbench.dense.faiss_index import IndexSpec, build_index, search

    data = vectors(args.n, args.dim, seed=0, clusters=args.clusters)
    queries = vectors(args.queries, args.dim, seed=1, clusters=args.clusters)
    base = rss_mb()
    spec = IndexSpec(kind=args.worker, hnsw_m=args.hnsw_m, ef_construction=args.ef_construction,
                     ef_search=args.ef_search, nlist=args.nlist, pq_m=args.pq_m, nprobe=args.nprobe)
    start = time.perf_counter()
    index = build_index(data, spec, threads=args.threads)
    build_s = time.perf_counter() - start
    search(index, queries[:10], args.k, threads=args.threads)  # warm-up
    runs = []
    for _ in range(args.reps):
        start = time.perf_counter()
        ids, _ = search(index, queries, args.k, threads=args.threads)
        runs.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before serialising (a copy) below
    np.save(args.ids_out, ids)
    print(json.dumps({
        "kind": args.worker, "build_s": build_s, "search_s": min(runs), "queries_per_s": args.queries / min(runs),
        "index_bytes": int(faiss.serialize_index(index).size), "rss_mb_data": base, "peak_rss_mb": peak,
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--clusters", type=int, default=0, help="0: pure random normal; C: C-cluster mixture")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--kinds", default="flat,hnsw", help="comma-separated: flat, hnsw, ivfpq (flat always runs)")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--pq-m", type=int, default=16)
    ap.add_argument("--nprobe", type=int, default=32)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--ids-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    kinds = ["flat"] + [k for k in args.kinds.split(",") if k and k != "flat"]
    passthrough = [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in (
        "n", "dim", "queries", "k", "clusters", "threads", "reps", "hnsw_m", "ef_construction", "ef_search",
        "nlist", "pq_m", "nprobe")]
    result: dict[str, Any] = {"n": args.n, "dim": args.dim, "queries": args.queries, "k": args.k,
                              "clusters": args.clusters, "threads": args.threads, "kinds": {}}
    with tempfile.TemporaryDirectory(prefix="rqbench-faiss-bench-") as tmp:
        for kind in kinds:
            ids_out = Path(tmp) / f"{kind}.npy"
            proc = subprocess.run([sys.executable, __file__, f"--worker={kind}", f"--ids-out={ids_out}", *passthrough],
                                  capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(f"{kind} worker failed:\n{proc.stderr}")
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            ids = np.load(ids_out)
            exact = np.load(Path(tmp) / "flat.npy")
            figures[f"recall@{args.k}_vs_flat"] = float(np.mean(
                [len(set(a) & set(b)) / args.k for a, b in zip(ids.tolist(), exact.tolist(), strict=True)]))
            result["kinds"][kind] = figures
            recall = figures[f"recall@{args.k}_vs_flat"]
            print(f"{kind:6s} build {figures['build_s']:7.2f} s  search {figures['queries_per_s']:9.0f} q/s  "
                  f"peak RSS {figures['peak_rss_mb']:7.0f} MB (vectors alone {figures['rss_mb_data']:.0f} MB)  "
                  f"index {figures['index_bytes'] / 2**20:6.1f} MiB  recall@{args.k} {recall:.3f}", flush=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
