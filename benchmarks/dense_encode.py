"""Benchmark: corpus encoding with rqbench's `encode_corpus` (what `DenseBackend.index` runs) against
sentence-transformers' `SentenceTransformer.encode`, same packaged all-MiniLM-L6-v2, batch size, max length
and torch threads, on the first N SciFact documents (title + " " + text, as the backend embeds them).

Both sort by length before batching: sentence-transformers by *character* length, rqbench by *token*
length (truncated at the max length), which is the padding that actually costs. The padding efficiency
(real tokens / padded tokens) of both orders is reported, so the ratio can be read against it. With
`--autocast bf16` rqbench is also timed under CPU bf16 autocast, and its cosine agreement with the fp32
embeddings is reported (bf16 changes results: the backend hashes `autocast`).

Contenders alternate over `--reps` rounds (after one warm-up batch each) so drift in machine speed hits
both alike; the best round counts. Peak RSS is the process high-water mark (ru_maxrss) after each phase.

    python benchmarks/dense_encode.py --n 1000 --max-length 256 --batch-size 32 --autocast bf16 --out enc.json
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

from rqbench.dense.encoding import encode_corpus, encode_texts, token_lengths
from rqbench.models.dual_encoder import DualEncoder, EncoderConfig
from rqbench.models.hf import packaged_minilm
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
    ap.add_argument("--autocast", choices=["bf16", "fp16"], default=None, help="also time rqbench under autocast")
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

    tmp = Path(tempfile.mkdtemp(prefix="rqbench-encode-bench-"))
    timings: dict[str, list[float]] = {"rqbench": [], "sentence-transformers": []}
    if args.autocast:
        timings[f"rqbench+{args.autocast}"] = []
    embeddings: dict[str, np.ndarray] = {}
    try:
        for rep in range(args.reps):
            for name in timings:
                if name == "sentence-transformers" and st is None:
                    continue
                out_dir = tmp / f"{name}-{rep}"
                start = time.perf_counter()
                if name == "sentence-transformers":
                    emb = st.encode(texts, batch_size=args.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, normalize_embeddings=True)
                else:
                    emb = np.asarray(encode_corpus(model, texts, out_dir, batch_size=args.batch_size, device="cpu",
                                                   autocast=None if name == "rqbench" else args.autocast,
                                                   progress=False))
                timings[name].append(time.perf_counter() - start)
                embeddings[name] = np.array(emb, dtype=np.float32)
                result[f"peak_rss_mb_after_{name}"] = peak_rss_mb()
                shutil.rmtree(out_dir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    speeds = {name: len(texts) / min(t) for name, t in timings.items() if t}
    result["seconds"] = {name: t for name, t in timings.items() if t}
    result["passages_per_s"] = speeds
    if "sentence-transformers" in speeds:
        result["ratio_vs_sentence_transformers"] = {
            name: speeds[name] / speeds["sentence-transformers"] for name in speeds if name.startswith("rqbench")}
        agree = cosine(embeddings["rqbench"], embeddings["sentence-transformers"])
        result["cosine_rqbench_vs_st"] = {"min": float(agree.min()), "mean": float(agree.mean())}
    if args.autocast:
        name = f"rqbench+{args.autocast}"
        agree = cosine(embeddings[name], embeddings["rqbench"])
        result[f"cosine_{args.autocast}_vs_fp32"] = {"min": float(agree.min()), "mean": float(agree.mean())}
        result[f"speedup_{args.autocast}_vs_fp32"] = speeds[name] / speeds["rqbench"]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
