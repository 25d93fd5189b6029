"""Cross-encoder re-ranking (RocketQA's MC): one transformer reads query and passage together and scores
the pair; it re-ranks the top-k of another system's run.

Input `[CLS] query [SEP] title passage [SEP]`, truncated to `max_length` tokens in all (the longer side
first; RocketQA uses 160 on MS MARCO). The model has one output logit z per pair; sigmoid(z) is the
paper's P(relevant) (its 2-class softmax is the same family: z = logit_relevant - logit_irrelevant), and
the thresholds of denoising and augmentation apply to it. The backend trains through the
"cross-encoder" task (`rqbench.training.tasks.cross_encoder`); in a suite its variant names the run it
re-ranks (`rerank = { run_of = "...", depth = 50 }`) and the `score` and `rerank` stages do the work.

torch and transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rqbench.models.hf import folder_digest, resolve_model
from rqbench.models.rocketqa_catalog import is_official
from rqbench.types import Doc, Query, Run, ScoredDoc, sort_ranking

if TYPE_CHECKING:
    import numpy as np

    from rqbench.models.cross_encoder import CrossEncoder


@dataclass(frozen=True)
class CrossEncoderParams:
    """`model`: "minilm" (the packaged all-MiniLM-L6-v2, given a new seeded 1-logit head), a folder written
    by a cross-encoder training (or any HF sequence classifier with one label), or an HF id.

    `pooling`: what the head reads, "cls" (the model's own classification path; RocketQA's pooled [CLS]) or
    "mean" (the mean token state; for encoders trained with mean pooling, such as all-MiniLM-L6-v2) or
    "cls-raw" (the raw last-layer [CLS] state, no pooler: RocketQAv2's joint re-ranker). Unset,
    it is the pooling a saved cross-encoder folder was trained with, else "cls"; resolved here and hashed.

    `precision` ("auto": bf16 autocast where the hardware has native bf16, see `rqbench.precision`) is
    resolved when the parameters are made and hashed: it changes scores slightly. `batch_size`, `device`
    and `threads` change speed only.
    """

    model: str = "minilm"
    max_length: int = 160
    pooling: Literal["cls", "mean", "cls-raw"] | None = None
    use_title: bool = True
    batch_size: int = 32
    device: str = "cpu"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    threads: int = 0  # 0: this process's torch thread count (OMP_NUM_THREADS, else the cores)
    trust_remote_code: bool = False

    NOT_HASHED: ClassVar[tuple[str, ...]] = ("batch_size", "device", "threads")
    # the fields a `train` stage copies into the trainer's settings, so training and scoring agree
    TRAIN_FIELDS: ClassVar[tuple[str, ...]] = ("model", "max_length", "pooling")

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a non-empty string (a model folder, an HF id, or 'minilm')")
        for name in ("max_length", "batch_size"):
            if getattr(self, name) < (2 if name == "max_length" else 1):
                raise ValueError(f"{name} must be >= {2 if name == 'max_length' else 1}, got {getattr(self, name)}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: the process's torch thread count), got {self.threads}")
        stored = _stored_pooling(self.model)
        if self.pooling is None:  # what a saved folder was trained with, else the model's own [CLS] path
            object.__setattr__(self, "pooling", stored or "cls")
        elif is_official(self.model) and self.pooling != stored:
            raise ValueError(f"{self.model} scores through pooling '{stored}'; pooling '{self.pooling}' would read "
                             "states its head never learned from (leave pooling unset)")
        from rqbench.models.cross_encoder_config import POOLINGS

        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be 'cls' (the model's own [CLS] head), 'mean' or 'cls-raw' (the raw "
                             f"[CLS] state), got {self.pooling!r}")
        from rqbench.precision import resolve_precision

        object.__setattr__(self, "precision", resolve_precision(self.precision, self.device))


def _stored_pooling(model: str) -> str | None:
    """The pooling a saved cross-encoder folder was trained with; None for anything else."""
    from rqbench.errors import RqbenchError
    from rqbench.models.cross_encoder_config import stored_settings

    if is_official(model):  # known without converting it: plans offline
        from rqbench.models.rocketqa_catalog import official_model

        official = official_model(model)
        if official.kind != "cross-encoder":
            raise ValueError(f"{model} is a dual encoder: use it with the dense backend")
        return official.pooling
    try:
        settings = stored_settings(resolve_model(model))
    except RqbenchError:  # not a model folder: loading it says so
        return None
    return None if settings is None else settings["pooling"]


def pair_text(doc: Doc, use_title: bool) -> str:
    """The passage side of a pair: title and text (RocketQA's title + passage), or the text alone."""
    return doc.contents() if use_title else doc.text


class CrossEncoderBackend:
    name: ClassVar[str] = "cross-encoder"
    Params: ClassVar[type] = CrossEncoderParams
    TRAINING_TASK: ClassVar[str] = "cross-encoder"

    def __init__(self, params: CrossEncoderParams):
        self.params = params
        self._model: CrossEncoder | None = None
        self._describe: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        """Library versions and the digests of the model files."""
        if self._describe is None:
            from importlib.metadata import version

            resolved = self.params.model if is_official(self.params.model) else resolve_model(self.params.model)
            where: Path | str = Path(resolved) if Path(resolved).exists() else resolved
            self._describe = {"torch": version("torch"), "transformers": version("transformers"),
                              "model": folder_digest(where)}
        return self._describe

    def model(self) -> CrossEncoder:
        with self._lock:
            if self._model is None:
                from rqbench.models.cross_encoder import CrossEncoder

                self._model = CrossEncoder.load(self.params.model, max_length=self.params.max_length,
                                                trust_remote_code=self.params.trust_remote_code,
                                                pooling=self.params.pooling)
            return self._model

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """One logit per (query text, passage text), in input order."""
        import torch

        p = self.params
        threads = torch.get_num_threads()
        torch.set_num_threads(p.threads or threads)
        try:
            return self.model().score(pairs, batch_size=p.batch_size, precision=p.precision, device=p.device)
        finally:
            torch.set_num_threads(threads)

    def rerank(self, queries: Sequence[Query], candidates: Run, docs: dict[str, Doc], k: int) -> Run:
        """Each query's first `k` candidates re-scored (logits), then the rest of its candidates below them
        in their original order (so a recall measure deeper than `k` sees the same documents)."""
        pairs: list[tuple[str, str]] = []
        where: list[tuple[str, str]] = []
        for q in queries:
            for hit in candidates.get(q.id, [])[:k]:
                pairs.append((q.text, pair_text(docs[hit.docid], self.params.use_title)))
                where.append((q.id, hit.docid))
        scores = self.score_pairs(pairs) if pairs else []
        scored: dict[str, dict[str, float]] = {}
        for (qid, docid), s in zip(where, scores, strict=True):
            scored.setdefault(qid, {})[docid] = float(s)
        return {q.id: rerank_ranking(candidates.get(q.id, []), scored.get(q.id, {}), k) for q in queries}


def rerank_ranking(ranking: list[ScoredDoc], scores: dict[str, float], k: int) -> list[ScoredDoc]:
    """The top `k` of `ranking` ordered by `scores` (ties by docid), followed by the rest of `ranking` in its
    order, with scores strictly below the lowest re-ranked one."""
    head = sort_ranking([ScoredDoc(h.docid, scores[h.docid]) for h in ranking[:k]])
    floor = min((h.score for h in head), default=0.0)
    tail = [ScoredDoc(h.docid, floor - 1.0 - i) for i, h in enumerate(ranking[k:])]
    return head + tail
