"""Benchmark: corpus encoding with rqbench's `encode_corpus` (what `DenseBackend.index` runs) against
sentence-transformers' `SentenceTransformer.encode`, same packaged all-MiniLM-L6-v2, batch size, max length
and torch threads, on the first N SciFact documents (title + " " + text, as the backend embeds them).

Contenders: sentence-transformers (fp32, its only CPU path), rqbench fp32, and rqbench's default path
(`precision = "auto"`, resolved for this machine: bf16 autocast where the CPU computes bf16 natively).
The headline is the default path's ratio to sentence-transformers:
`"headline": {"ratio": ..., "contender": ..., "path": ...}`.

Both sort by length before batching: sentence-transformers by *character* length, rqbench by *token*
length (truncated at the max length), which is the padding that actually costs. The padding efficiency
(real tokens / padded tokens) of both orders is reported, so the ratio can be read against it, and the
achieved GFLOP/s (the encoder's FLOPs on the real, unpadded token counts / seconds) against the machine's
peak (`benchmarks/machine.py`: fp32 peak for fp32 paths, bf16 peak for bf16). The cosine agreement of
each path with sentence-transformers' embeddings is reported (bf16 changes results: the backend hashes
the resolved precision).

Contenders alternate over `--reps` rounds (after one warm-up batch each) so drift in machine speed hits
all alike; the best round counts. Peak RSS is the process high-water mark (ru_maxrss) after each phase.

    python benchmarks/dense_encode.py --n 400 --max-length 256 --batch-size 32 --threads 2 --reps 2 --out enc.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import achieved, encoder_gflop, peak_gflops

from rqbench.dense.encoding import encode_corpus, encode_texts, token_lengths
from rqbench.models.dual_encoder import DualEncoder, EncoderConfig
from rqbench.models.hf import packaged_minilm
from rqbench.precision import resolve_precision
from rqbench.types import Doc

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("RQBENCH_TEST_DATA", REPO_ROOT.parent / "shared" / "data")) / "scifact"


def read_docs(folder: Path, n: int) -> list[str]:
    texts = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if len(texts) == n:
                break
            o = json.loads(line)
            texts.append(Doc(o["_id"], o.get("title", ""), o["text"]).contents())
    return texts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def padding_efficiency(lengths: np.ndarray, order: np.ndarray, batch_size: int) -> float:
    """Real tokens / tokens computed when batches of `batch_size` are cut from `order` and padded."""
    padded = sum(len(b) * int(lengths[b].max()) for b in np.array_split(order, range(batch_size, len(order),
                                                                                           batch_size)))
    return float(lengths.sum() / padded)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SciFact folder (corpus.jsonl)")
    ap.add_argument("--n", type=int, default=1000, help="first N documents")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                    help="rqbench's default-path precision (auto: resolved for this machine)")
    ap.add_argument("--skip-st", action="store_true", help="do not time sentence-transformers")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    texts = read_docs(args.data, args.n)
    model = DualEncoder.load("minilm", EncoderConfig(max_passage_length=args.max_length))
    lengths = token_lengths(model, texts, "passage")
    char_order = np.argsort([-len(t) for t in texts], kind="stable")
    token_order = np.argsort(-lengths, kind="stable")
    result: dict[str, Any] = {
        "n": len(texts), "max_length": args.max_length, "batch_size": args.batch_size, "threads": args.threads,
        "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
        "mean_tokens": float(lengths.mean()), "share_at_max_length": float((lengths == args.max_length).mean()),
        "padding_efficiency": {
            "token_sorted (rqbench)": padding_efficiency(lengths, token_order, args.batch_size),
            "char_sorted (sentence-transformers)": padding_efficiency(lengths, char_order, args.batch_size),
            "unsorted": padding_efficiency(lengths, np.arange(len(texts)), args.batch_size),
        },
    }
    st = None
    if not args.skip_st:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(packaged_minilm()), device="cpu")
        st.max_seq_length = args.max_length
    result["peak_rss_mb_after_load"] = peak_rss_mb()

    # one warm-up batch each (first-call allocations, oneDNN primitive creation)
    encode_texts(model, texts[:args.batch_size], "passage", args.batch_size)
    if st is not None:
        st.encode(texts[:args.batch_size], batch_size=args.batch_size, show_progress_bar=False)

    default = resolve_precision(args.precision, "cpu")
    paths = {"sentence-transformers": "fp32", "rqbench fp32": "fp32", "rqbench default": default}
    if st is None:
        del paths["sentence-transformers"]
    result["default_path"] = {"precision": default, "requested": args.precision}
    tmp = Path(tempfile.mkdtemp(prefix="rqbench-encode-bench-"))
    timings: dict[str, list[float]] = {name: [] for name in paths}
    embeddings: dict[str, np.ndarray] = {}
    try:
        for rep in range(args.reps):
            for name, precision in paths.items():
                out_dir = tmp / f"{name.replace(' ', '-')}-{rep}"
                start = time.perf_counter()
                if name == "sentence-transformers":
                    emb = st.encode(texts, batch_size=args.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, normalize_embeddings=True)
                else:
                    emb = np.asarray(encode_corpus(model, texts, out_dir, batch_size=args.batch_size, device="cpu",
                                                   autocast=None if precision == "fp32" else precision,
                                                   progress=False))
                timings[name].append(time.perf_counter() - start)
                embeddings[name] = np.array(emb, dtype=np.float32)
                result[f"peak_rss_mb_after_{name.replace(' ', '_')}"] = peak_rss_mb()
                shutil.rmtree(out_dir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    best = {name: min(t) for name, t in timings.items()}
    speeds = {name: len(texts) / seconds for name, seconds in best.items()}
    result["seconds"] = timings
    result["passages_per_s"] = speeds
    peak = peak_gflops(args.threads)
    gflop = encoder_gflop(model.passage_tower.config, lengths.tolist())
    result["machine_peak"] = peak
    result["gflop_per_pass"] = gflop
    result["gflops"] = {name: achieved(gflop, best[name], peak["bf16"] if paths[name] == "bf16" and peak.get("bf16")
                                       else peak["fp32"]) for name in best}
    if "sentence-transformers" in speeds:
        base = speeds["sentence-transformers"]
        result["ratio_vs_sentence_transformers"] = {name: speeds[name] / base for name in speeds}
        result["cosine_vs_sentence_transformers"] = {
            name: {"min": float(c.min()), "mean": float(c.mean())}
            for name in speeds if name != "sentence-transformers"
            for c in [cosine(embeddings[name], embeddings["sentence-transformers"])]}
        result["headline"] = {"ratio": speeds["rqbench default"] / base,
                              "contender": "sentence-transformers SentenceTransformer.encode (fp32)",
                              "path": f"rqbench encode_corpus, precision {args.precision} -> {default}"}
    agree = cosine(embeddings["rqbench default"], embeddings["rqbench fp32"])
    result["cosine_default_vs_fp32"] = {"min": float(agree.min()), "mean": float(agree.mean())}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
