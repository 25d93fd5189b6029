"""Dense retrieval: a (dual) transformer encoder, passages embedded once, faiss inner-product search.

Index layout (`workdir`, which is also the `index_dir` that `search` takes):

- `embeddings/`  `encode_corpus`'s folder: `embeddings.f32` (float32 memmap in corpus order) and
  `embeddings.json` (its shape), plus the manifest and encoding order (shards while encoding; a killed
  `index()` re-run on the same folder resumes from the finished shards);
- `index.faiss`  the faiss index (flat / hnsw / ivfpq), row i = document i;
- `docids.json`  the document ids in corpus order; `dense.json` the dimension, count and index kind.

torch, transformers and faiss are imported only inside the methods that need them, so importing this
module (as `rqbench backends` does) stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rqbench.errors import RqbenchError
from rqbench.io import atomic_write_json
from rqbench.models.hf import ENCODER_CONFIG, folder_digest, resolve_model
from rqbench.models.rocketqa_catalog import is_official
from rqbench.types import Doc, Query, Run, ScoredDoc, sort_ranking

from .dense_params import DenseParams

if TYPE_CHECKING:
    import numpy as np

    from rqbench.models.dual_encoder import DualEncoder

EMBEDDINGS_DIR = "embeddings"
INDEX_FILE = "index.faiss"
DOCIDS_FILE = "docids.json"
META_FILE = "dense.json"


# ---- model files -----------------------------------------------------------------------------------

def _tower_folders(model: str, query_model: str | None, load: bool = False) -> dict[str, Path | str]:
    """Where the passage and query towers load from: a folder, or an HF id left as a string. An official
    RocketQA model stays a name (its digest is known offline) unless `load` asks for its converted folder."""

    def folder(name: str, side: str) -> Path | str:
        if is_official(name) and not load:
            return name
        resolved = resolve_model(name)
        path = Path(resolved)
        if not path.exists():
            return resolved  # an HF id
        saved = path / ENCODER_CONFIG
        if saved.exists() and not json.loads(saved.read_text(encoding="utf-8")).get("shared", True):
            return path / side  # a DualEncoder.save folder with separate towers
        return path

    passage = folder(model, "passage")
    query = folder(query_model, "query") if query_model is not None else folder(model, "query")
    return {"passage": passage, "query": query}


def _package_version(*names: str) -> str | None:
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            return version(name)
    return None


_THREADS_LOCK = threading.Lock()
_threads_held: list[int] = []  # the count before the first holder, while any `_torch_threads` is active


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch.set_num_threads for the duration (it is process-wide), then back to what it was. Holders may
    overlap (`run --jobs N` shares a backend across threads): the count before the first is restored after
    the last, never one a concurrent holder set."""
    import torch

    with _THREADS_LOCK:
        if not _threads_held:
            _threads_held.append(torch.get_num_threads())
        _threads_held.append(threads)
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _threads_held.pop()
            if len(_threads_held) == 1:
                torch.set_num_threads(_threads_held.pop())


class DenseBackend:
    """Retriever and Encoder: bi-encoder embeddings + faiss (flat, hnsw or ivfpq) inner-product search."""

    name: ClassVar[str] = "dense"
    Params: ClassVar[type] = DenseParams
    TRAINING_TASK: ClassVar[str] = "dual-encoder"  # what a suite's `train` stage trains its `model` with
    RESUMABLE_INDEX: ClassVar[bool] = True  # a killed index() resumes from the finished embedding shards

    def __init__(self, params: DenseParams | None = None) -> None:
        self.params = params if params is not None else DenseParams()
        self._model: DualEncoder | None = None
        self._describe: dict[str, Any] | None = None
        self._lock = threading.Lock()  # with `run --jobs N`, stages of one variant may ask for the model at once
        # the last index searched, kept open: a retrieve stage searches in chunks, and reading a large flat index
        # again for every chunk would cost more than the search
        self._opened: tuple[tuple[Any, ...], Any, list[str]] | None = None
        self._open_lock = threading.Lock()

    # ---- identity ------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Library versions and digests of the model files (a retrained checkpoint at the same path differs)."""
        if self._describe is None:
            towers = _tower_folders(self.params.model, self.params.query_model)
            described = {"passage": folder_digest(towers["passage"])}
            if towers["query"] != towers["passage"]:
                described["query"] = folder_digest(towers["query"])
            self._describe = {
                "torch": _package_version("torch"),
                "transformers": _package_version("transformers"),
                "faiss": _package_version("faiss-cpu", "faiss-gpu", "faiss-gpu-cu12", "faiss"),
                "model": described,
            }
        return self._describe

    def _fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.describe()["model"]["passage"], sort_keys=True).encode()).hexdigest()

    # ---- the model -----------------------------------------------------------------------------------

    def model(self) -> DualEncoder:
        """The DualEncoder for these parameters (loaded once per backend instance)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> DualEncoder:
        from rqbench.models.dual_encoder import DualEncoder, EncoderConfig

        p = self.params
        towers = _tower_folders(p.model, p.query_model, load=True)
        shared = towers["query"] == towers["passage"]
        config = EncoderConfig.from_spec(p, shared=shared)
        passage_dir = Path(str(towers["passage"]))
        stored = passage_dir / ENCODER_CONFIG
        if not stored.exists() and passage_dir.name == "passage":  # a separate-tower save: one folder up
            stored = passage_dir.parent / ENCODER_CONFIG
        if stored.exists():  # a DualEncoder.save folder: its training-time pooling/normalize win
            saved = json.loads(stored.read_text(encoding="utf-8"))
            config = EncoderConfig(pooling=saved.get("pooling", p.pooling),
                                   normalize=saved.get("normalize", p.normalize), shared=config.shared,
                                   max_query_length=p.max_query_length, max_passage_length=p.max_passage_length,
                                   passage_input=p.passage_input)
        query = str(towers["query"])
        passage = None if config.shared else str(towers["passage"])
        return DualEncoder(query, passage, config, trust_remote_code=p.trust_remote_code)

    # ---- Encoder -------------------------------------------------------------------------------------

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings, float32 (len(texts), dim), in input order."""
        return self._encode_texts(list(texts), "query")

    def encode_docs(self, docs: Sequence[Doc]) -> np.ndarray:
        """Passage embeddings (in memory), float32 (len(docs), dim), in input order."""
        return self._encode_texts([self._doc_text(d) for d in docs], "passage")

    def _encode_texts(self, texts: list[str], side: Literal["query", "passage"]) -> np.ndarray:
        from rqbench.dense.encoding import encode_texts

        p = self.params
        model = self.model()
        with _torch_threads(self._threads()):
            return encode_texts(model, texts, side, p.batch_size, p.device, _autocast(p.precision))

    def _threads(self) -> int:
        """The threads for torch and faiss: the `threads` parameter, or with 0 what torch uses in this process
        (OMP_NUM_THREADS, else the cores), so a worker given one core does not spin a second thread."""
        import torch

        return self.params.threads or torch.get_num_threads()

    def _doc_text(self, doc: Doc) -> str:
        if self.params.passage_input == "title-sep":  # title and text apart: read as a pair
            from rqbench.models.spec import TITLE_SEP

            return f"{doc.title}{TITLE_SEP}{doc.text}"
        return doc.contents() if self.params.use_title else doc.text

    # ---- Retriever -----------------------------------------------------------------------------------

    def encode_part(self, corpus: Sequence[Doc], workdir: Path, part: int, parts: int,
                    progress: bool = False) -> None:
        """Part `part` of `parts` of the corpus's embeddings (the `encode` stage; `assemble_parts` joins them)."""
        from rqbench.dense.encoding import encode_corpus

        p = self.params
        self._check_corpus(corpus)
        with _torch_threads(self._threads()):
            encode_corpus(self.model(), [self._doc_text(d) for d in corpus], Path(workdir), batch_size=p.batch_size,
                          device=p.device, autocast=_autocast(p.precision), progress=progress, rank=part,
                          world_size=parts, fingerprint=self._fingerprint(), assemble=False)

    @staticmethod
    def _check_corpus(corpus: Sequence[Doc]) -> list[str]:
        if not corpus:
            raise RqbenchError("cannot build a dense index of an empty corpus")
        ids = [doc.id for doc in corpus]
        if len(set(ids)) != len(ids):
            dup = next(i for i, count in Counter(ids).items() if count > 1)
            raise RqbenchError(f"document id '{dup}' appears twice in the corpus")
        return ids

    def index(self, corpus: Sequence[Doc], workdir: Path, progress: bool = True,
              embeddings: Path | None = None) -> None:
        """Encode the corpus (or take `embeddings`, an `embeddings` stage's folder, linked in without loading
        the model) and build the faiss index."""
        from rqbench.dense.encoding import encode_corpus
        from rqbench.dense.faiss_index import IndexSpec, build_index, save_index

        workdir = Path(workdir)
        ids = self._check_corpus(corpus)
        p = self.params
        workdir.mkdir(parents=True, exist_ok=True)
        threads = self._threads()
        if embeddings is not None:
            vectors = _link_embeddings(Path(embeddings), workdir / EMBEDDINGS_DIR)
            if vectors.shape[0] != len(ids):
                raise RqbenchError(f"the embeddings hold {vectors.shape[0]} rows, the corpus {len(ids)} passages",
                                   embeddings)
        else:
            with _torch_threads(threads):
                vectors = encode_corpus(self.model(), [self._doc_text(d) for d in corpus], workdir / EMBEDDINGS_DIR,
                                        batch_size=p.batch_size, device=p.device, autocast=_autocast(p.precision),
                                        progress=progress, fingerprint=self._fingerprint())
        index = build_index(vectors, self._spec(IndexSpec), threads=threads)
        save_index(index, workdir / INDEX_FILE)
        atomic_write_json(workdir / DOCIDS_FILE, ids)
        atomic_write_json(workdir / META_FILE, {"rows": len(ids), "dim": int(vectors.shape[1]),
                                                "index": p.index, "faiss_class": type(index).__name__})

    def _spec(self, spec_cls: type) -> Any:
        p = self.params
        return spec_cls(kind=p.index, hnsw_m=p.hnsw_m, ef_construction=p.ef_construction, ef_search=p.ef_search,
                        nlist=p.nlist, pq_m=p.pq_m, nprobe=p.nprobe)

    def search(self, index_dir: Path, queries: Sequence[Query], k: int) -> Run:
        from rqbench.dense.faiss_index import search as faiss_search

        index_dir = Path(index_dir)
        if k < 1:
            raise RqbenchError(f"k must be >= 1, got {k}")
        if not (index_dir / META_FILE).exists() or not (index_dir / DOCIDS_FILE).exists():
            raise RqbenchError("no dense index here (build it with index() first)", index_dir)
        qids = [q.id for q in queries]
        if len(set(qids)) != len(qids):
            dup = next(qid for qid, count in Counter(qids).items() if count > 1)
            raise RqbenchError(f"query id '{dup}' appears twice")
        meta = json.loads((index_dir / META_FILE).read_text(encoding="utf-8"))
        if meta.get("index") != self.params.index:
            raise RqbenchError(f"this is a '{meta.get('index')}' index, the parameters ask for "
                               f"'{self.params.index}'", index_dir)
        if not queries:
            return {}
        q_emb = self.encode_queries([q.text for q in queries])
        if q_emb.shape[1] != meta["dim"]:
            raise RqbenchError(f"the query encoder gives {q_emb.shape[1]}-d vectors, the index holds "
                               f"{meta['dim']}-d ones", index_dir)
        index, docids = self._open(index_dir)
        if self.params.rescore:  # k' candidates from the approximate index, re-scored from the stored vectors
            from rqbench.dense.encoding import load_embeddings
            from rqbench.dense.faiss_index import rescore

            candidates, _ = faiss_search(index, q_emb, min(max(k, self.params.rescore), len(docids)),
                                         threads=self._threads())
            ids, scores = rescore(candidates, q_emb, load_embeddings(index_dir / EMBEDDINGS_DIR), min(k, len(docids)))
        else:
            ids, scores = faiss_search(index, q_emb, min(k, len(docids)), threads=self._threads())
        return {
            qid: sort_ranking(ScoredDoc(docids[i], float(s)) for i, s in zip(row_ids, row_scores, strict=True)
                              if i >= 0)
            for qid, row_ids, row_scores in zip(qids, ids.tolist(), scores.tolist(), strict=True)
        }

    def _open(self, index_dir: Path) -> tuple[Any, list[str]]:
        """The faiss index and its docids, read once while the same files are searched again."""
        from rqbench.dense.faiss_index import load_index

        files = [index_dir / INDEX_FILE, index_dir / DOCIDS_FILE]
        if not files[0].exists():
            raise RqbenchError("no faiss index here (build it with index() first)", files[0])
        key = (str(index_dir.resolve()), *((st.st_mtime_ns, st.st_size) for st in (f.stat() for f in files)))
        with self._open_lock:
            if self._opened is None or self._opened[0] != key:
                self._opened = None  # the previous one is let go before the next is read
                docids = json.loads(files[1].read_text(encoding="utf-8"))
                index = load_index(files[0], ef_search=self.params.ef_search, nprobe=self.params.nprobe)
                self._opened = (key, index, docids)
            return self._opened[1], self._opened[2]


def _link_embeddings(source: Path, target: Path) -> Any:
    """An `embeddings` artifact's files in the index's own `embeddings/` (hard links: no space, and the index
    keeps its vectors for `rescore` even if the embeddings artifact is collected), as a memmap."""
    from rqbench.dense.encoding import EMBEDDINGS_FILE, EMBEDDINGS_META, load_embeddings
    from rqbench.io import link_or_copy

    target.mkdir(parents=True, exist_ok=True)
    for name in (EMBEDDINGS_FILE, EMBEDDINGS_META):
        link_or_copy(source / name, target / name)
    return load_embeddings(target)


def _autocast(precision: str) -> str | None:
    """The encoding functions' `autocast` argument for a resolved precision (None: fp32)."""
    return None if precision == "fp32" else precision
