"""Corpus and query encoding with a `DualEncoder`: length-sorted batches, resumable shards, one memmap.

`encode_corpus` writes, inside `out_dir`:

- `manifest.json`  what is being encoded (row count, shard size, a sha256 of the texts, the encoder config);
  a folder holding shards of a different job is refused rather than silently mixed;
- `order.npy`      the encoding order: row positions (int64) sorted by tokenized length, longest first
  (ties by position, so the order is deterministic); shard `i` holds the rows `order[i*S:(i+1)*S]`;
- `shard-00000.npy`, ...  float32 embeddings of those rows, each written atomically (temporary file +
  `os.replace`); a shard that exists is never re-encoded, so a killed encode resumes where it stopped;
- `embeddings.f32` the assembled embeddings in the ORIGINAL text order, a raw float32 C-order matrix,
  and `embeddings.json` with its shape (written last: its presence means "complete"). The shards are
  deleted after assembly unless `keep_shards`.

Length sorting is what makes batches cheap: a batch is padded to its longest member, so grouping texts of
similar length removes most padding. Because batches are cut from the same deterministic order with the
same `batch_size`, the same input gives byte-identical embeddings (on the same device and thread count;
BLAS kernels may round differently when the thread count or the batch shape changes).

Several GPUs (one process each, e.g. under torchrun)::

    # torchrun --nproc-per-node 4 encode.py
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = f"cuda:{os.environ['LOCAL_RANK']}"
    emb = encode_corpus(model, texts, out_dir, batch_size=256, device=device, autocast="bf16",
                        rank=rank, world_size=world)

Every process encodes the shards with `index % world_size == rank` into the same (shared) `out_dir`;
rank 0 then waits for all shards, assembles `embeddings.f32` and removes the shards, while the other
ranks wait for `embeddings.json` and return the same memmap. No process group is needed (the folder is
the only rendezvous), so separate jobs on a shared filesystem work too. A rank that dies leaves its
shards missing: re-run it (or the whole job; finished shards are kept).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from rqbench.artifacts import current_umask
from rqbench.errors import RqbenchError
from rqbench.io import atomic_path, atomic_write_json, link_or_copy
from rqbench.models.dual_encoder import DualEncoder

Side = Literal["query", "passage"]
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
EMBEDDINGS_FILE = "embeddings.f32"
EMBEDDINGS_META = "embeddings.json"
MANIFEST_FILE = "manifest.json"
ORDER_FILE = "order.npy"
_LENGTH_CHUNK = 8192  # texts tokenized at a time when measuring lengths (bounds memory on big corpora)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


# ---- device, autocast, lengths -------------------------------------------------------------------------

def check_device(device: str) -> torch.device:
    """`device` as a torch.device, or a one-line error when it is not usable here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise RqbenchError(f"unknown device '{device}' (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RqbenchError(f"device '{device}' is not available (no CUDA GPU visible to torch)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RqbenchError(f"device '{device}' is not available ({torch.cuda.device_count()} GPU(s) visible)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise RqbenchError(f"device '{device}' is not available")
    return dev


def autocast_context(device: torch.device, autocast: str | None) -> contextlib.AbstractContextManager:
    """Autocast only when asked: bf16/fp16 on CUDA, and on CPU too (where it must be explicit)."""
    if autocast is None:
        return contextlib.nullcontext()
    if autocast not in AUTOCAST_DTYPES:
        raise RqbenchError(f"autocast must be one of {', '.join(AUTOCAST_DTYPES)} or None, got {autocast!r}")
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[autocast])


def token_lengths(model: DualEncoder, texts: Sequence[str], side: Side) -> np.ndarray:
    """Tokenized length of each text, truncated as the encoder will truncate it."""
    tok = model.tokenizer if side == "query" else model.passage_tokenizer
    max_len = model.max_length(side)
    lengths = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _LENGTH_CHUNK):
        chunk = list(texts[start:start + _LENGTH_CHUNK])
        enc = tok(chunk, truncation=True, max_length=max_len, return_attention_mask=False,
                  return_token_type_ids=False, return_length=True)
        lengths[start:start + len(chunk)] = enc["length"]
    return lengths


def length_order(lengths: np.ndarray) -> np.ndarray:
    """Positions sorted by length descending, ties by position ascending (a stable, deterministic order)."""
    return np.argsort(-lengths, kind="stable").astype(np.int64)


# ---- the batch loop -------------------------------------------------------------------------------------

def _encode_rows(model: DualEncoder, texts: Sequence[str], rows: np.ndarray, side: Side, batch_size: int,
                 device: torch.device, autocast: str | None,
                 on_batch: Callable[[int], None] | None) -> np.ndarray:
    """Embeddings (float32, in the order of `rows`) of `texts[rows]`, `batch_size` rows per forward pass."""
    out: list[np.ndarray] = []
    with torch.inference_mode(), autocast_context(device, autocast):
        for start in range(0, len(rows), batch_size):
            batch_rows = rows[start:start + batch_size]
            batch = model.tokenize([texts[i] for i in batch_rows], side)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            emb = model(batch, side)
            if emb.dtype != torch.float32:
                # pooled/normalised in low precision: renormalise in float32 so norms are 1 to float32
                emb = emb.float()
                if model.config.normalize:
                    emb = torch.nn.functional.normalize(emb, dim=-1)
            out.append(emb.cpu().numpy())
            if on_batch is not None:
                on_batch(len(batch_rows))
    if not out:
        return np.zeros((0, _dim(model, side)), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def _dim(model: DualEncoder, side: Side) -> int:
    tower = model.query_tower if side == "query" else model.passage_tower
    return int(tower.config.hidden_size)


def _prepare(model: DualEncoder, batch_size: int, device: str) -> torch.device:
    if batch_size < 1:
        raise RqbenchError(f"batch_size must be >= 1, got {batch_size}")
    dev = check_device(device)
    model.eval()
    model.to(dev)
    return dev


def encode_texts(model: DualEncoder, texts: Sequence[str], side: Side = "query", batch_size: int = 32,
                 device: str = "cpu", autocast: str | None = None) -> np.ndarray:
    """Embeddings of `texts` in memory (float32, shape (len(texts), dim), input order): for queries."""
    dev = _prepare(model, batch_size, device)
    texts = list(texts)
    order = length_order(token_lengths(model, texts, side))
    sorted_emb = _encode_rows(model, texts, order, side, batch_size, dev, autocast, None)
    emb = np.empty_like(sorted_emb)
    emb[order] = sorted_emb
    return emb


# ---- corpus encoding ------------------------------------------------------------------------------------

def texts_digest(texts: Sequence[str]) -> str:
    """sha256 over the texts, each length-prefixed so ["ab", "c"] and ["a", "bc"] differ."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", errors="surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _open_embeddings(out_dir: Path) -> np.memmap:
    meta = json.loads((out_dir / EMBEDDINGS_META).read_text(encoding="utf-8"))
    shape = (int(meta["rows"]), int(meta["dim"]))
    if shape[0] == 0:  # np.memmap cannot map an empty file
        return np.zeros(shape, dtype=np.float32)  # type: ignore[return-value]
    return np.memmap(out_dir / EMBEDDINGS_FILE, dtype=np.float32, mode="r", shape=shape)


def load_embeddings(out_dir: Path) -> np.memmap:
    """The assembled embeddings written by `encode_corpus` (read-only memmap)."""
    out_dir = Path(out_dir)
    if not (out_dir / EMBEDDINGS_META).exists():
        raise RqbenchError("no assembled embeddings here (run encode_corpus first)", out_dir)
    return _open_embeddings(out_dir)


def _check_manifest(out_dir: Path, manifest: dict) -> None:
    """Write the manifest, or check that the one already there describes the same job."""
    path = out_dir / MANIFEST_FILE
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored != manifest:
            diff = sorted(k for k in set(stored) | set(manifest) if stored.get(k) != manifest.get(k))
            raise RqbenchError(
                f"holds shards of a different encoding job (differs in: {', '.join(diff)}); "
                "use an empty folder or delete this one", out_dir)
    else:
        atomic_write_json(path, manifest)


def _load_or_compute_order(model: DualEncoder, texts: Sequence[str], out_dir: Path) -> np.ndarray:
    path = out_dir / ORDER_FILE
    if path.exists():  # resuming: the manifest already matched, so the saved order is this job's order
        order = np.load(path, allow_pickle=False)
        if order.shape == (len(texts),):
            return order
    order = length_order(token_lengths(model, texts, "passage"))
    _atomic_save_npy(path, order)  # every rank computes the same bytes, so concurrent replaces agree
    return order


def _progress_bar(enabled: bool, total: int, done: int, label: str):
    """A rich progress bar on stderr (passages, rate, ETA), or a no-op."""
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:  # type: ignore[no-untyped-def]
            return Text(f"{task.speed:,.1f} passages/s" if task.speed else "", style="progress.data.speed")

    @contextlib.contextmanager
    def bar() -> Iterator[Callable[[int], None]]:
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=False)
        with progress:
            task = progress.add_task(label, total=total, completed=done)
            yield lambda n: progress.advance(task, n)

    return bar()


def encode_corpus(model: DualEncoder, texts: Sequence[str], out_dir: Path, *, batch_size: int, device: str,
                  autocast: str | None, shard_size: int = 4096, progress: bool = True, rank: int = 0,
                  world_size: int = 1, keep_shards: bool = False, fingerprint: str | None = None,
                  wait_poll_s: float = 1.0, on_batch: Callable[[int], None] | None = None,
                  assemble: bool = True) -> np.memmap | None:
    """Encode passages `texts` into `out_dir` (see the module docstring for the files and torchrun use).

    Returns the embeddings (float32, shape (len(texts), dim), original order) as a read-only memmap.
    `fingerprint` (e.g. a digest of the model weights) goes into the manifest, so shards of another model
    are refused too. `on_batch(n_rows)` is called after every forward pass (tests use it to interrupt).
    Moves `model` to `device` and sets it to eval mode. With `assemble=False` this rank writes its shards
    (and the manifest and order) and returns None at once: `assemble_parts` puts the parts' folders together
    (the `encode` and `embeddings` stages: one node per part, each its own folder).
    """
    out_dir = Path(out_dir)
    if shard_size < 1:
        raise RqbenchError(f"shard_size must be >= 1, got {shard_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise RqbenchError(f"rank must be in [0, world_size), got rank={rank} world_size={world_size}")
    texts = texts if isinstance(texts, list) else list(texts)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(texts)
    manifest = {"rows": n, "shard_size": shard_size, "texts_sha256": texts_digest(texts),
                "encoder": asdict(model.config), "autocast": autocast, "fingerprint": fingerprint}
    _check_manifest(out_dir, manifest)
    if (out_dir / EMBEDDINGS_META).exists():
        return _open_embeddings(out_dir)

    dev = _prepare(model, batch_size, device)
    order = _load_or_compute_order(model, texts, out_dir)
    n_shards = (n + shard_size - 1) // shard_size
    mine = [i for i in range(n_shards) if i % world_size == rank]
    todo = [i for i in mine if not (out_dir / shard_name(i)).exists()]
    total = sum(len(order[i * shard_size:(i + 1) * shard_size]) for i in mine)
    left = sum(len(order[i * shard_size:(i + 1) * shard_size]) for i in todo)
    label = "encoding" if world_size == 1 else f"encoding (rank {rank}/{world_size})"

    with _progress_bar(progress and bool(todo), total, total - left, label) as advance:
        def step(rows: int) -> None:
            if advance is not None:
                advance(rows)
            if on_batch is not None:
                on_batch(rows)

        for i in todo:
            rows = order[i * shard_size:(i + 1) * shard_size]
            emb = _encode_rows(model, texts, rows, "passage", batch_size, dev, autocast, step)
            _atomic_save_npy(out_dir / shard_name(i), emb)

    if not assemble:
        return None
    if rank != 0:
        while not (out_dir / EMBEDDINGS_META).exists():
            time.sleep(wait_poll_s)
        return _open_embeddings(out_dir)
    while not all((out_dir / shard_name(i)).exists() for i in range(n_shards)):
        time.sleep(wait_poll_s)
    return _assemble(out_dir, order, n_shards, shard_size, _dim(model, "passage"), keep_shards)


def assemble_parts(part_dirs: Sequence[Path], out_dir: Path) -> np.memmap:
    """The embeddings of one `encode_corpus` job whose parts (`rank` i of `world_size` len(part_dirs), written
    with `assemble=False`) lie in separate folders: their shards are linked (or copied) into `out_dir` and
    assembled there, byte for byte what one process would have written. The parts must be one job (the same
    manifest: texts, model, shard size) and hold every shard between them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not part_dirs:
        raise RqbenchError("no encoded parts to assemble")
    manifests = [json.loads((Path(d) / MANIFEST_FILE).read_text(encoding="utf-8")) for d in part_dirs]
    if any(m != manifests[0] for m in manifests):
        raise RqbenchError("the encoded parts belong to different jobs (their manifests differ)", part_dirs[0])
    manifest = manifests[0]
    n, shard_size = int(manifest["rows"]), int(manifest["shard_size"])
    n_shards = (n + shard_size - 1) // shard_size
    for i in range(n_shards):
        source = Path(part_dirs[i % len(part_dirs)]) / shard_name(i)
        if not source.exists():
            raise RqbenchError(f"{shard_name(i)} is missing from its part", source.parent)
        link_or_copy(source, out_dir / shard_name(i))  # the parts are immutable artifacts
    order = np.load(Path(part_dirs[0]) / ORDER_FILE, allow_pickle=False)
    dim = int(np.load(out_dir / shard_name(0), mmap_mode="r").shape[1]) if n_shards else 0
    atomic_write_json(out_dir / MANIFEST_FILE, manifest)
    _atomic_save_npy(out_dir / ORDER_FILE, order)
    return _assemble(out_dir, order, n_shards, shard_size, dim, keep_shards=False)


def _assemble(out_dir: Path, order: np.ndarray, n_shards: int, shard_size: int, dim: int,
              keep_shards: bool) -> np.memmap:
    """Scatter the shards back into the original order in `embeddings.f32` (atomically), then its meta."""
    n = len(order)
    final = out_dir / EMBEDDINGS_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{EMBEDDINGS_FILE}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it 0600: unreadable to others in a shared store
    try:
        if n:
            out = np.memmap(tmp, dtype=np.float32, mode="w+", shape=(n, dim))
            for i in range(n_shards):
                shard = np.load(out_dir / shard_name(i), allow_pickle=False)
                rows = order[i * shard_size:(i + 1) * shard_size]
                if shard.shape != (len(rows), dim) or shard.dtype != np.float32:
                    raise RqbenchError(f"{shard_name(i)} has shape {shard.shape} {shard.dtype}, expected "
                                       f"({len(rows)}, {dim}) float32; delete it to re-encode it", out_dir)
                out[rows] = shard
            out.flush()
            del out
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    atomic_write_json(out_dir / EMBEDDINGS_META, {"rows": n, "dim": dim, "dtype": "float32", "order": "C"})
    if not keep_shards:
        for i in range(n_shards):
            with contextlib.suppress(FileNotFoundError):
                (out_dir / shard_name(i)).unlink()
    for stale in out_dir.glob(".shard-*.tmp"):  # left by a process killed while writing a shard
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return _open_embeddings(out_dir)
