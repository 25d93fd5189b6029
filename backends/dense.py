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
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rqbench.errors import RqbenchError
from rqbench.io import atomic_write_json
from rqbench.models.hf import ENCODER_CONFIG, folder_digest, resolve_model
from rqbench.models.rocketqa_catalog import is_official
from rqbench.models.spec import ENCODER_ADDED_LATER, EncoderSpec
from rqbench.types import Doc, Query, Run, ScoredDoc, sort_ranking

if TYPE_CHECKING:
    import numpy as np

    from rqbench.models.dual_encoder import DualEncoder

EMBEDDINGS_DIR = "embeddings"
INDEX_FILE = "index.faiss"
DOCIDS_FILE = "docids.json"
META_FILE = "dense.json"


@dataclass(frozen=True)
class DenseParams(EncoderSpec):
    """Dense retrieval parameters: the encoder (`EncoderSpec`: model, pooling, normalize, lengths) and more.

    `model` is the passage tower (and the query tower too unless `query_model` is given): "minilm" (the
    packaged all-MiniLM-L6-v2), a local folder (HF checkpoint, or one written by `DualEncoder.save`,
    whose stored pooling/normalize/towers then win over `pooling`/`normalize` here), or an HF model id.

    The index fields are everything that changes passage embeddings or the index structure. `precision`
    ("auto", the default, resolves per machine when the parameters are made: bf16 autocast on a CPU or GPU
    with native bf16, else fp32; see `rqbench.precision`) changes the embeddings slightly, so its
    resolved value IS hashed and is an index field; "fp32" reproduces full-precision artifacts anywhere.
    `ef_search` and `nprobe` are search-time knobs (hashed, but not index fields: no rebuild); so is
    `rescore` (0: off): with an approximate index (ivfpq, hnsw), `rescore` candidates are taken from it and
    re-scored exactly from the stored embeddings (a memmap; only the candidates' rows are read), so the order
    is exact and the only loss left is a passage never among the candidates.
    `batch_size`, `device` and `threads` change speed only and are left out of cache keys.

    `towers` ("shared", the default, or "separate": query and passage towers trained apart, both from
    `model`) matters to training; a model that was not trained reads the same weights either way.
    `preset` fills in a recipe's settings where the variant does not set them: "rocketqa" is RocketQA's dual
    encoder form (the raw [CLS] vector, no normalisation, two towers, the title and text read as a pair, and
    a dot product at scale 1 in training) where the defaults are sentence-transformers' (mean pooling,
    cosine, one tower, scale 20).
    `passage_input = "title-sep"` (in the preset) reads a passage as the pair `[CLS] title [SEP] text [SEP]`
    with segment ids, RocketQA's passage input; "joined" (the default) reads title and text as one string.
    """

    preset: str = ""
    query_model: str | None = None
    use_title: bool = True
    batch_size: int = 32
    device: str = "cpu"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    index: Literal["flat", "hnsw", "ivfpq"] = "flat"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 1024
    pq_m: int = 16
    nprobe: int = 32
    rescore: int = 0
    threads: int = 0  # 0: this process's torch thread count (OMP_NUM_THREADS, else the cores)
    trust_remote_code: bool = False

    INDEX_FIELDS: ClassVar[tuple[str, ...]] = (
        "model", "pooling", "normalize", "max_passage_length", "use_title", "passage_input", "precision",
        "trust_remote_code",
        "index", "hnsw_m", "ef_construction", "nlist", "pq_m",
    )
    NOT_HASHED: ClassVar[tuple[str, ...]] = ("batch_size", "device", "threads")
    RENAMED: ClassVar[dict[str, str]] = {"autocast": "precision"}  # earlier name -> current (a one-line hint)
    ADDED_LATER: ClassVar[dict[str, Any]] = {**ENCODER_ADDED_LATER, "preset": "", "rescore": 0}  # hashed when set
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "rocketqa": {"pooling": "cls", "normalize": False, "towers": "separate", "passage_input": "title-sep"},
    }
    PRESET_TRAIN: ClassVar[dict[str, dict[str, Any]]] = {"rocketqa": {"scale": 1.0}}  # the trainer's, likewise

    def __post_init__(self) -> None:
        self._check_encoder()
        from rqbench.precision import resolve_precision

        # frozen: the resolved value replaces "auto" once, so hashes and records name what really ran
        object.__setattr__(self, "precision", resolve_precision(self.precision, self.device))
        if self.passage_input == "title-sep" and not self.use_title:
            raise ValueError("passage_input = 'title-sep' reads the title apart; it cannot go with use_title = false")
        if self.preset and self.preset not in self.PRESETS:
            raise ValueError(f"unknown preset {self.preset!r} (presets: {', '.join(self.PRESETS)})")
        if self.index not in ("flat", "hnsw", "ivfpq"):
            raise ValueError(f"index must be one of flat, hnsw, ivfpq, got {self.index!r}")
        for name in ("batch_size", "hnsw_m", "ef_construction", "ef_search", "nlist", "pq_m", "nprobe"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if is_official(self.model):
            _check_official_form(self)
        if self.rescore < 0:
            raise ValueError(f"rescore must be >= 0 (0: off), got {self.rescore}")
        if self.rescore and self.index == "flat":
            raise ValueError("rescore re-scores an approximate index's candidates exactly; a 'flat' index is exact "
                             "already (use index = 'ivfpq' or 'hnsw')")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: the process's torch thread count), got {self.threads}")


def _check_official_form(params: DenseParams) -> None:
    """An official RocketQA dual encoder is read as it was trained (raw [CLS], no normalisation, the passage as
    `title [SEP] text`): other settings would hash one form and feed the model another, silently."""
    from rqbench.models.rocketqa_catalog import official_model

    model = official_model(params.model)
    if model.kind != "dual-encoder":
        raise ValueError(f"{params.model} is a cross-encoder: use it with the cross-encoder backend")
    form = (params.pooling, params.normalize, params.passage_input)
    if form != ("cls", False, "title-sep"):
        raise ValueError(f"{params.model} reads the raw [CLS] vector, unnormalised, with the passage as title [SEP] "
                         f"text: set preset = 'rocketqa' (got pooling {params.pooling!r}, normalize "
                         f"{params.normalize}, passage_input {params.passage_input!r})")


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

    def index(self, corpus: Sequence[Doc], workdir: Path, progress: bool = True) -> None:
        from rqbench.dense.encoding import encode_corpus
        from rqbench.dense.faiss_index import IndexSpec, build_index, save_index

        workdir = Path(workdir)
        if not corpus:
            raise RqbenchError("cannot build a dense index of an empty corpus")
        ids = [doc.id for doc in corpus]
        if len(set(ids)) != len(ids):
            dup = next(i for i, count in Counter(ids).items() if count > 1)
            raise RqbenchError(f"document id '{dup}' appears twice in the corpus")
        p = self.params
        workdir.mkdir(parents=True, exist_ok=True)
        model = self.model()
        threads = self._threads()
        with _torch_threads(threads):
            embeddings = encode_corpus(model, [self._doc_text(d) for d in corpus], workdir / EMBEDDINGS_DIR,
                                       batch_size=p.batch_size, device=p.device, autocast=_autocast(p.precision),
                                       progress=progress, fingerprint=self._fingerprint())
        index = build_index(embeddings, self._spec(IndexSpec), threads=threads)
        save_index(index, workdir / INDEX_FILE)
        atomic_write_json(workdir / DOCIDS_FILE, ids)
        atomic_write_json(workdir / META_FILE, {"rows": len(ids), "dim": int(embeddings.shape[1]),
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


def _autocast(precision: str) -> str | None:
    """The encoding functions' `autocast` argument for a resolved precision (None: fp32)."""
    return None if precision == "fp32" else precision
