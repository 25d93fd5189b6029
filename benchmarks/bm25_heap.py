"""Benchmark: peak memory of BM25 indexing + search of SciFact, with and without a JVM heap bound.

Each setting runs in a fresh Python process (the JVM is one per process and its heap is fixed when it
starts): the process reads SciFact, indexes its 5,183 documents with `BM25Backend.index`, then searches
all 1,109 queries (k=1000) with `BM25Backend.search`, both with `threads` threads. The bound is the BM25
parameter `java_heap` (what a suite sets); `$RQBENCH_JAVA_HEAP` is removed from the children's
environment, so "default" is the JVM's own default (a quarter of the machine's memory).

Peak RSS is measured twice: by the child itself (`getrusage(RUSAGE_SELF).ru_maxrss`, plus
`RUSAGE_CHILDREN` for anything it started) and by this process from `os.wait4` on the child. The JVM runs
inside the Python process (pyjnius), so its heap, code cache and threads are all in that figure. The run
is digested, so the figures also show that the bound changes memory and nothing else.

    python benchmarks/bm25_heap.py --heaps default,1g,512m --out reports/benchmarks/bm25_heap.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("RQBENCH_TEST_DATA", REPO_ROOT.parent / "shared" / "data")) / "scifact"
MIB = 2**20


def child(data: Path, heap: str | None, threads: int, k: int) -> dict[str, Any]:
    """Index + search in this (fresh) process; the figures as a dict."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bm25_vs_pyserini import read_corpus, read_queries

    from rqbench.javaenv import java_info, jvm_max_heap
    from rqbench_backends.bm25 import BM25Backend, BM25Params

    corpus = read_corpus(data)
    _, queries = read_queries(data)
    params = BM25Params(threads=threads, java_heap=heap)
    figures: dict[str, Any] = {"heap": heap or "default", "docs": len(corpus), "queries": len(queries), "k": k}
    with tempfile.TemporaryDirectory(prefix="rqbench-bm25-heap-") as tmp:
        start = time.perf_counter()
        BM25Backend(params).index(corpus, Path(tmp))
        figures["index_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        run = BM25Backend(params).search(Path(tmp), queries, k)
        figures["search_s"] = round(time.perf_counter() - start, 2)
    digest = hashlib.sha256()
    for qid in sorted(run):
        for sd in run[qid]:
            digest.update(f"{qid} {sd.docid} {sd.score!r}\n".encode())
    figures["run_sha256"] = digest.hexdigest()
    figures["hits"] = sum(len(ranking) for ranking in run.values())
    figures["jvm_max_heap_mib"] = round((jvm_max_heap() or 0) / MIB, 1)
    figures["java"] = java_info()["version"]
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures["peak_rss_self_mib"] = round(self_kib / 1024, 1)
    figures["peak_rss_children_mib"] = round(children_kib / 1024, 1)
    return figures


def measure(data: Path, heap: str | None, threads: int, k: int) -> dict[str, Any]:
    """Run `child` in a fresh interpreter; add the peak RSS seen by wait4 and the wall time."""
    env = {name: value for name, value in os.environ.items() if name != "RQBENCH_JAVA_HEAP"}
    command = [sys.executable, __file__, "--child", "--data", str(data), "--threads", str(threads), "--k", str(k),
               "--heaps", heap or "default"]
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        assert proc.stdout is not None
        stdout = proc.stdout.read()  # not communicate(): it would reap the child before wait4 can
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"the {heap or 'default'} run failed (exit {proc.returncode}):\n{errors.read()[-3000:]}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["peak_rss_wait4_mib"] = round(usage.ru_maxrss / 1024, 1)
    figures["wall_s"] = round(wall, 2)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SciFact folder (BEIR layout)")
    parser.add_argument("--heaps", default="default,1g", help="comma-separated: 'default' or a size (512m, 1g)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    heaps = [None if h.strip() == "default" else h.strip() for h in args.heaps.split(",") if h.strip()]

    if args.child:
        print(json.dumps(child(args.data, heaps[0], args.threads, args.k)))
        return 0

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "threads": args.threads,
        "runs": [],
    }
    print(f"{'heap':>8} {'JVM max heap':>13} {'peak RSS':>10} {'(wait4)':>10} {'index':>8} {'search':>8}  run")
    for heap in heaps:
        figures = measure(args.data, heap, args.threads, args.k)
        results["runs"].append(figures)
        print(f"{figures['heap']:>8} {figures['jvm_max_heap_mib']:>9.0f} MiB {figures['peak_rss_self_mib']:>6.0f} MiB "
              f"{figures['peak_rss_wait4_mib']:>6.0f} MiB {figures['index_s']:>6.2f} s {figures['search_s']:>6.2f} s  "
              f"{figures['run_sha256'][:12]}", flush=True)
    digests = {run["run_sha256"] for run in results["runs"]}
    results["identical_runs"] = len(digests) == 1
    print(f"identical runs: {results['identical_runs']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
