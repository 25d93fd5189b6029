"""Peak memory of encoding 100k passages: the DL19 pool (31,362 MS MARCO passages) repeated to 100,000,
all-MiniLM-L6-v2, max length 64, batch 64, 2 threads. Run from the repo root: python benchmarks/dense_encode_100k.py"""
import resource
import tempfile
import time
from pathlib import Path

import torch

from rqbench.data import load_dataset
from rqbench.dense.encoding import encode_corpus
from rqbench.models.dual_encoder import DualEncoder, EncoderConfig

torch.set_num_threads(2)
ds = load_dataset("../shared/data/msmarco-dl19")
texts = [d.contents() for d in ds.corpus.values()]
texts = (texts * 4)[:100_000]
model = DualEncoder.load("minilm", EncoderConfig(max_passage_length=64))
model.eval()
out = Path(tempfile.mkdtemp())
t = time.perf_counter()
emb = encode_corpus(model, texts, out, batch_size=64, device="cpu", autocast=None, progress=False)
dt = time.perf_counter() - t
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"encoded {emb.shape[0]} passages (max length 64, batch 64, 2 threads) in {dt:.1f} s = "
      f"{emb.shape[0] / dt:.1f} passages/s; peak RSS {peak_mb:.0f} MB; embeddings {emb.nbytes / 2**20:.0f} MiB")
