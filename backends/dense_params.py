"""The dense backend's parameters (`DenseParams`): the encoder, the faiss index and its search knobs, which of
them decide an index and which only a search, and the presets (RocketQA's dual-encoder form).

Imports no torch or faiss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rqbench.models.rocketqa_catalog import is_official
from rqbench.models.spec import ENCODER_ADDED_LATER, EncoderSpec


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
    encode_parts: int = 0
    threads: int = 0  # 0: this process's torch thread count (OMP_NUM_THREADS, else the cores)
    trust_remote_code: bool = False

    INDEX_FIELDS: ClassVar[tuple[str, ...]] = (
        "model", "pooling", "normalize", "max_passage_length", "use_title", "passage_input", "precision",
        "trust_remote_code",
        "index", "hnsw_m", "ef_construction", "nlist", "pq_m",
    )
    # the index fields that decide the embeddings (the rest decide the faiss structure): an `encode` stage's
    ENCODE_FIELDS: ClassVar[tuple[str, ...]] = ("model", "pooling", "normalize", "max_passage_length", "use_title",
                                                "passage_input", "precision", "trust_remote_code")
    NOT_HASHED: ClassVar[tuple[str, ...]] = ("batch_size", "device", "threads", "encode_parts")  # parts: by edges
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
        if not 0 <= self.encode_parts <= 64:
            raise ValueError(f"encode_parts must be in [0, 64] (0: the index encodes the corpus itself), got "
                             f"{self.encode_parts}")
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
