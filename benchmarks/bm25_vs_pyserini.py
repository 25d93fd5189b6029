"""Benchmark: rqbench's BM25Backend.search against a direct Pyserini LuceneSearcher.batch_search.

Both run on the same SciFact index, the same queries (the 300 test queries, then all 1,109 train+test
queries), the same k and threads. After warm-up rounds (the JVM's JIT needs them), repetitions alternate
between the contenders so that drift in machine speed hits both alike.

- `pyserini`: `LuceneSearcher.batch_search` on a searcher opened once; the result is Pyserini's dict of
  Java hit objects (already converted to Python lists by pyjnius).
- `pyserini+extract`: the same, plus reading (docid, score) out of every hit, i.e. the least any caller
  must do to use the results from Python.
- `rqbench`: `BM25Backend.search`, which opens the searcher, sets BM25, searches, and returns
  `ScoredDoc` rankings in rqbench's deterministic order (with Python's cyclic GC paused meanwhile).

Every timed call starts after a `gc.collect()` and its result is dropped outside the clock, so one
contender's garbage is never collected on another's time.

    python benchmarks/bm25_vs_pyserini.py --threads 2 --reps 5 --out bm25_bench.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rqbench.javaenv import java_info, prepare_pyserini
from rqbench.types import Doc, Query
from rqbench_backends.bm25 import BM25Backend, BM25Params

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("RQBENCH_TEST_DATA", REPO_ROOT.parent / "shared" / "data")) / "scifact"


def read_corpus(folder: Path) -> list[Doc]:
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        return [Doc(o["_id"], o.get("title", ""), o["text"]) for o in map(json.loads, fh)]


def read_queries(folder: Path) -> tuple[list[Query], list[Query]]:
    """(test queries, all queries) in file order."""
    with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [Query(o["_id"], o["text"]) for o in map(json.loads, fh)]
    with (folder / "qrels" / "test.tsv").open(encoding="utf-8") as fh:
        test_ids = {line.split("\t")[0] for line in list(fh)[1:] if line.strip()}
    return [q for q in queries if q.id in test_ids], queries


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def time_only(fn: Callable[[], Any]) -> float:
    """Seconds for one call, starting from a clean heap; the result is dropped outside the clock, so
    neither a previous result nor garbage left by the previous contender weighs on this one."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    del result
    gc.collect()
    return seconds


def bench_query_set(
    label: str, queries: list[Query], index_dir: Path, k: int, threads: int, warmup: int, reps: int
) -> dict[str, Any]:
    from pyserini.search.lucene import LuceneSearcher

    params = BM25Params(k1=0.9, b=0.4, threads=threads)
    backend = BM25Backend(params)
    searcher = LuceneSearcher(str(index_dir))
    searcher.set_bm25(params.k1, params.b)
    texts, qids = [q.text for q in queries], [q.id for q in queries]

    def pyserini() -> Any:
        return searcher.batch_search(texts, qids, k=k, threads=threads)

    def pyserini_extract() -> Any:
        hits = searcher.batch_search(texts, qids, k=k, threads=threads)
        return {qid: [(h.docid, h.score) for h in hs] for qid, hs in hits.items()}

    def rqbench() -> Any:
        return backend.search(index_dir, queries, k)

    contenders: dict[str, Callable[[], Any]] = {
        "pyserini": pyserini, "pyserini+extract": pyserini_extract, "rqbench": rqbench,
    }
    for _ in range(warmup):
        for fn in contenders.values():
            time_only(fn)

    # same results? (rankings as sets of (docid, score); rqbench re-sorts ties deterministically)
    _, direct = time_call(pyserini_extract)
    _, ours = time_call(rqbench)
    same = all(
        sorted(direct.get(qid, [])) == sorted((sd.docid, sd.score) for sd in ours[qid]) for qid in qids
    )
    del direct, ours

    times: dict[str, list[float]] = {name: [] for name in contenders}
    for rep in range(reps):
        order = list(contenders) if rep % 2 == 0 else list(reversed(contenders))
        for name in order:
            times[name].append(time_only(contenders[name]))
    searcher.close()

    n = len(queries)
    figures: dict[str, Any] = {"queries": n, "k": k, "threads": threads, "same_results": same}
    for name, values in times.items():
        median = statistics.median(values)
        figures[name] = {
            "seconds": [round(v, 4) for v in values],
            "median_s": round(median, 4),
            "min_s": round(min(values), 4),
            "queries_per_s": round(n / median, 2),
        }
    figures["ratio_rqbench_vs_pyserini"] = round(
        figures["rqbench"]["queries_per_s"] / figures["pyserini"]["queries_per_s"], 3
    )
    figures["ratio_rqbench_vs_pyserini_extract"] = round(
        figures["rqbench"]["queries_per_s"] / figures["pyserini+extract"]["queries_per_s"], 3
    )
    print(f"\n{label}: {n} queries, k={k}, threads={threads}, results identical: {same}")
    for name in contenders:
        f = figures[name]
        print(f"  {name:18s} {f['queries_per_s']:8.1f} q/s  (median {f['median_s']:.3f} s, min {f['min_s']:.3f} s)")
    print(
        f"  ratio rqbench/pyserini = {figures['ratio_rqbench_vs_pyserini']:.3f}, "
        f"rqbench/pyserini+extract = {figures['ratio_rqbench_vs_pyserini_extract']:.3f}"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SciFact folder (BEIR layout)")
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="reuse this index (built there first if it holds none); default: a temp dir")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    prepare_pyserini()
    seconds, _ = time_call(lambda: __import__("pyserini.search.lucene"))
    print(f"import pyserini.search.lucene: {seconds:.2f} s")

    test_queries, all_queries = read_queries(args.data)
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "java": java_info(),
        "backend": BM25Backend(BM25Params()).describe(),
        "import_pyserini_search_s": round(seconds, 3),
    }
    with tempfile.TemporaryDirectory(prefix="rqbench-bm25-bench-") as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        if not any(index_dir.glob("segments_*")):
            corpus = read_corpus(args.data)
            index_dir.mkdir(parents=True, exist_ok=True)
            seconds, _ = time_call(
                lambda: BM25Backend(BM25Params(threads=args.threads)).index(corpus, index_dir)
            )
            results["index"] = {"docs": len(corpus), "seconds": round(seconds, 3), "threads": args.threads}
            print(f"indexed {len(corpus)} docs in {seconds:.2f} s ({args.threads} threads) -> {index_dir}")
        else:
            print(f"reusing the index in {index_dir}")
        for label, queries in (("scifact-test", test_queries), ("scifact-all", all_queries)):
            results[label] = bench_query_set(
                label, queries, index_dir, args.k, args.threads, args.warmup, args.reps
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
