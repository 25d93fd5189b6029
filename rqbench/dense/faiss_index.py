"""Faiss indexes over inner product: exact `flat` (IndexFlatIP), `hnsw` (IndexHNSWFlat) and `ivfpq` (IndexIVFPQ).

Build-time parameters (kind, M, efConstruction, nlist, m, nbits, the training sample) decide the index
file; `ef_search` and `nprobe` are search-time knobs set on the loaded index, so changing them never
needs a rebuild.

Reproducibility: `flat` is exact. `ivfpq` trains on a seeded sample with seeded k-means, so the same
vectors give the same index. `hnsw` built with more than one thread inserts vectors concurrently, so the
graph (and, rarely, a result) can differ between builds; build with `threads=1` where that matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from rqbench.errors import RqbenchError
from rqbench.io import atomic_path

IndexKind = Literal["flat", "hnsw", "ivfpq"]
INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw", "ivfpq")
_ADD_CHUNK = 65536  # rows copied into faiss at a time (a memmap is never loaded whole just to add it)


@dataclass(frozen=True)
class IndexSpec:
    kind: IndexKind = "flat"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 1024
    pq_m: int = 16
    pq_nbits: int = 8
    nprobe: int = 32
    train_size: int | None = None  # None: min(n, max(64 * nlist, 39 * 2**pq_nbits))
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise RqbenchError(f"index must be one of {', '.join(INDEX_KINDS)}, got {self.kind!r}")
        for name in ("hnsw_m", "ef_construction", "ef_search", "nlist", "pq_m", "pq_nbits", "nprobe"):
            if getattr(self, name) < 1:
                raise RqbenchError(f"{name} must be >= 1, got {getattr(self, name)}")


def effective_nlist(spec: IndexSpec, n: int) -> int:
    """`nlist`, lowered for small corpora so each list gets >= 39 training points (faiss' minimum advice).

    A pure function of (nlist, n): the same corpus and parameters always give the same index.
    """
    return max(1, min(spec.nlist, n // 39))


def _as_f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def build_index(embeddings: np.ndarray, spec: IndexSpec | None = None, threads: int = 1) -> Any:
    """A faiss index over the rows of `embeddings` (float32 (n, d); a memmap is read in chunks)."""
    spec = spec or IndexSpec()
    if embeddings.ndim != 2:
        raise RqbenchError(f"embeddings must be a matrix, got shape {embeddings.shape}")
    n, d = embeddings.shape
    if n == 0:
        raise RqbenchError("cannot build a faiss index over zero vectors")
    faiss.omp_set_num_threads(threads)
    if spec.kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    else:
        index = _train_ivfpq(embeddings, spec)
    for start in range(0, n, _ADD_CHUNK):
        index.add(_as_f32(embeddings[start:start + _ADD_CHUNK]))
    return index


def _train_ivfpq(embeddings: np.ndarray, spec: IndexSpec) -> Any:
    n, d = embeddings.shape
    if d % spec.pq_m:
        raise RqbenchError(f"pq_m ({spec.pq_m}) must divide the embedding dimension ({d})")
    if n < 2 ** spec.pq_nbits:
        raise RqbenchError(f"ivfpq with {spec.pq_nbits}-bit codes needs at least {2 ** spec.pq_nbits} passages, "
                           f"got {n}; use index 'flat' or 'hnsw'")
    nlist = effective_nlist(spec, n)
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFPQ(quantizer, d, nlist, spec.pq_m, spec.pq_nbits, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = spec.seed
    index.pq.cp.seed = spec.seed
    index.nprobe = min(spec.nprobe, nlist)
    size = spec.train_size or max(64 * nlist, 39 * 2 ** spec.pq_nbits)
    size = min(n, size)
    rows = np.sort(np.random.default_rng(spec.seed).choice(n, size=size, replace=False))
    index.train(_as_f32(embeddings[rows]))
    return index  # faiss' Python wrapper keeps `quantizer` alive as long as `index`


def set_search_params(index: Any, ef_search: int | None = None, nprobe: int | None = None) -> None:
    """Search-time knobs: HNSW efSearch, IVF nprobe (ignored for index types without them)."""
    if ef_search is not None and isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = ef_search
    ivf = faiss.try_extract_index_ivf(index)
    if nprobe is not None and ivf is not None:
        ivf.nprobe = min(nprobe, ivf.nlist)


def save_index(index: Any, path: Path) -> None:
    """faiss.write_index to a temporary file beside `path`, then rename over it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))


def load_index(path: Path, ef_search: int | None = None, nprobe: int | None = None) -> Any:
    path = Path(path)
    if not path.exists():
        raise RqbenchError("no faiss index here (build it with index() first)", path)
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise RqbenchError(f"cannot read the faiss index: {str(exc).strip().splitlines()[-1]}", path) from None
    set_search_params(index, ef_search, nprobe)
    return index


def search(index: Any, queries: np.ndarray, k: int, *, threads: int = 1,
           batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64 (nq, k), scores float32 (nq, k)), `batch_size` queries per faiss call.

    With fewer than `k` vectors (or an approximate index that finds fewer), missing slots have id -1.
    """
    if k < 1:
        raise RqbenchError(f"k must be >= 1, got {k}")
    queries = _as_f32(queries)
    if queries.ndim != 2 or queries.shape[1] != index.d:
        raise RqbenchError(f"queries have shape {queries.shape}, the index has dimension {index.d}")
    faiss.omp_set_num_threads(threads)
    nq = queries.shape[0]
    ids = np.full((nq, k), -1, dtype=np.int64)
    scores = np.full((nq, k), -np.inf, dtype=np.float32)
    for start in range(0, nq, batch_size):
        s, i = index.search(queries[start:start + batch_size], k)
        scores[start:start + len(s)] = s
        ids[start:start + len(i)] = i
    return ids, scores


def rescore(ids: np.ndarray, queries: np.ndarray, embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner products of each query with its candidates `ids` (from an approximate index; -1: none),
    read from the stored `embeddings` (a memmap: only the candidates' rows are read), best `k` first. Returns
    (ids int64 (nq, k), scores float32 (nq, k)), -1 / -inf in the slots of a query with fewer candidates.

    IVF-PQ's scores are those of the compressed vectors, so its order within the candidates is approximate;
    re-scoring makes it exact, and the only loss left is a relevant passage never among the candidates."""
    queries = _as_f32(queries)
    nq = queries.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
    for row in range(nq):
        found = ids[row][ids[row] >= 0]
        if not found.size:
            continue
        order = np.argsort(found, kind="stable")  # read the memmap's rows in file order
        rows = found[order]
        exact = np.asarray(embeddings[rows], dtype=np.float32) @ queries[row]
        best = np.lexsort((rows, -exact))[:k]  # highest score first, ties by row
        out_ids[row, :best.size] = rows[best]
        out_scores[row, :best.size] = exact[best]
    return out_ids, out_scores
