"""TrainConfig: every setting of a training run, validated on construction (imports torch only to resolve
mixed_precision "auto" for device "auto").

Owns the names, defaults and meaning of the training loop's and tasks' knobs; suites and the CLI build it
through `rqbench.backend.build_params` (unknown keys and wrong types are one-line errors) or
`from_json_file`. The encoder fields (model, pooling, normalize, lengths) are `EncoderSpec`'s, shared
with the dense backend's parameters.

Batch arithmetic: `batch_size` groups per process per micro-batch; a *global batch* is
batch_size x world size; an optimizer step consumes `grad_accumulation` global batches. Gradient
accumulation does **not** enlarge the negative pool: each micro-batch's queries only see that
micro-batch's passages, so for contrastive losses accumulating 4 x 32 is *not* a batch of 128 (it has
the gradient noise of 128 pairs but the 31 in-batch negatives of 32). Cross-batch negatives (more
processes) are what enlarges the pool (RocketQA, arXiv 2010.08191, section 4.1).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rqbench.errors import RqbenchError
from rqbench.models.spec import ENCODER_ADDED_LATER, EncoderSpec

TRAINING_INFO = "training_info.json"  # written into every output folder, last: its presence marks it finished
LOG_FILE = "train_log.jsonl"  # one JSON line per logged step, beside the outputs (the loop's docstring)


@dataclass(frozen=True)
class TrainConfig(EncoderSpec):
    """Settings of a training run (`rqbench.training.loop.train`); all sizes per process unless said otherwise.

    Inherited from `EncoderSpec`: model ("minilm", a model folder, or an HF id), pooling, normalize,
    max_query_length, max_passage_length. `max_length` and `ce_loss` are the cross-encoder task's (the dual
    encoder ignores them), as `negatives` and `scale` are the dual encoder's; the joint task (RocketQAv2)
    reads `model`, `scale` and the lengths for its retriever, `reranker_model`, `reranker_pooling` ("": the
    checkpoint's own, else "cls") and `max_length` for its re-ranker, `kl_reaches_reranker` and `reranker_loss`.
    """

    negatives: Literal["in-batch", "cross-batch"] = "in-batch"
    hard_negatives_per_query: int = 0
    negative_sampling: Literal["random", "top"] = "random"
    batch_size: int = 32
    epochs: int = 1
    max_steps: int = 0
    lr: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    grad_accumulation: int = 1
    scale: float = 20.0
    max_length: int = 160
    ce_loss: Literal["pointwise", "listwise", "listwise+pointwise"] = "pointwise"
    reranker_model: str = ""
    reranker_pooling: Literal["", "cls", "mean", "cls-raw"] = ""
    kl_reaches_reranker: bool = False
    reranker_loss: Literal["listwise", "pointwise", "frozen"] = "listwise"
    seed: int = 13
    device: str = "auto"
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    save_every: int = 0
    keep_checkpoints: int = 1
    threads: int = 0
    log_every: int = 1
    gradient_checkpointing: bool = False
    grad_cache_chunk: int = 0
    ddp: bool = False

    def __post_init__(self) -> None:
        self._check_encoder()
        positive = ("batch_size", "epochs", "grad_accumulation", "log_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("hard_negatives_per_query", "max_steps", "save_every", "threads", "grad_cache_chunk"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.scale <= 0:
            raise ValueError("lr and scale must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.negatives not in ("in-batch", "cross-batch"):
            raise ValueError(f"negatives must be 'in-batch' or 'cross-batch', got {self.negatives!r}")
        if self.negative_sampling not in ("random", "top"):
            raise ValueError(f"negative_sampling must be 'random' or 'top', got {self.negative_sampling!r}")
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 2:
            raise ValueError(f"max_length must be a whole number >= 2, got {self.max_length!r}")
        if self.ce_loss not in ("pointwise", "listwise", "listwise+pointwise"):
            raise ValueError(f"ce_loss must be 'pointwise', 'listwise' or 'listwise+pointwise', got {self.ce_loss!r}")
        if self.reranker_pooling not in ("", "cls", "mean", "cls-raw"):
            raise ValueError("reranker_pooling must be '', 'cls', 'mean' or 'cls-raw', "
                             f"got {self.reranker_pooling!r}")
        if self.reranker_loss not in ("listwise", "pointwise", "frozen"):
            raise ValueError(f"reranker_loss must be 'listwise', 'pointwise' or 'frozen', got {self.reranker_loss!r}")
        if self.reranker_loss == "frozen" and self.kl_reaches_reranker:
            raise ValueError("reranker_loss = 'frozen' (static distillation) and kl_reaches_reranker: a frozen "
                             "re-ranker takes no gradient")
        if self.ddp and self.grad_cache_chunk:
            raise ValueError("ddp with grad_cache_chunk: a cached-gradient step runs several backward passes, which "
                             "DDP would all-reduce each; use one or the other")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}")
        if self.mixed_precision == "auto":  # hashed and recorded resolved, like the dense backend's precision
            object.__setattr__(self, "mixed_precision", resolve_mixed_precision(self.device))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str | None = None) -> TrainConfig:
        from rqbench.backend import build_params

        return build_params(cls, values, where)

    @classmethod
    def from_json_file(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RqbenchError("config file not found", path) from None
        except UnicodeDecodeError:
            raise RqbenchError("config file is not valid UTF-8", path) from None
        except json.JSONDecodeError as exc:
            raise RqbenchError(f"invalid JSON ({exc.msg})", path, exc.lineno) from None
        if not isinstance(values, dict):
            raise RqbenchError("expected a JSON object of TrainConfig settings", path)
        return cls.from_dict(values, str(path))


def resolve_mixed_precision(device: str) -> str:
    """What mixed_precision "auto" means on `device`: bf16 autocast where the hardware computes bf16 natively
    (a CPU with AVX512-BF16/AMX, a recent GPU), fp16 on an older GPU (with a gradient scaler), else "no".
    On a 2-core AVX512-BF16 CPU bf16 trained MiniLM 1.35x faster than fp32 sentence-transformers
    (reports/benchmarks/de_training.json) with retrieval quality within seed noise (reports/train-precision).
    `RQBENCH_PRECISION=fp32` turns it off, as for encoding (`rqbench.precision`)."""
    from rqbench.precision import resolve_precision

    kind = device.split(":", 1)[0]
    if kind == "auto":
        import torch

        kind = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = resolve_precision("auto", kind)
    return "no" if resolved == "fp32" else resolved


# One line per setting (shown by `rqbench train --help`); every field of TrainConfig has one.
SETTING_HELP: dict[str, str] = {
    "model": "'minilm' (packaged all-MiniLM-L6-v2), a model folder, or an HF id",
    "pooling": "'cls' (dual encoder: the first token's state; cross-encoder: the model's own pooled-[CLS] head) "
               "or 'mean' (the mean of the token states)",
    "normalize": "L2-normalise the embeddings (scores are cosines)",
    "max_query_length": "query tokens kept (longer queries are truncated)",
    "max_passage_length": "passage tokens kept (longer passages are truncated)",
    "towers": "'shared' (one encoder for queries and passages) or 'separate' (two, both started from model)",
    "passage_input": "'joined' (title and text as one string) or 'title-sep' (the pair [CLS] title [SEP] text "
                     "[SEP] with segment ids, RocketQA's passage input)",
    "negatives": "'in-batch' or 'cross-batch' (all processes' passages; needs nproc >= 2)",
    "hard_negatives_per_query": "negatives per query from its group, added to the passage pool",
    "negative_sampling": "'random' (drawn afresh each epoch, seeded) or 'top' (the first ones)",
    "batch_size": "queries per process per micro-batch",
    "epochs": "passes over the training groups",
    "max_steps": "> 0: stop after this many optimizer steps (overrides epochs)",
    "lr": "AdamW peak learning rate",
    "warmup_ratio": "linear warmup over this share of the steps, then decay to 0",
    "weight_decay": "AdamW weight decay (not on biases and LayerNorm weights)",
    "max_grad_norm": "gradient clipping norm (<= 0: no clipping)",
    "grad_accumulation": "micro-batches per optimizer step (does not enlarge the pool)",
    "scale": "inverse softmax temperature (20 for cosines, 1 for raw dot products)",
    "max_length": "cross-encoder: tokens of query + passage kept, the longer side truncated first (RocketQA: 160)",
    "ce_loss": "cross-encoder: 'pointwise' (binary CE per pair; RocketQA), 'listwise' (softmax CE per group) "
                 "or 'listwise+pointwise' (their sum: ranks like listwise, calibrated like pointwise)",
    "reranker_model": "joint: the cross-encoder the re-ranker starts from (a trained folder or a model)",
    "reranker_pooling": "joint: the re-ranker's pooling, 'cls', 'mean' or 'cls-raw' ('': the checkpoint's own, "
                        "else 'cls')",
    "kl_reaches_reranker": "joint: the KL term trains the re-ranker too (default: only the retriever, as the "
                           "official RocketQAv2 code)",
    "reranker_loss": "joint: the re-ranker's own term, 'listwise' (RocketQAv2), 'pointwise' (binary CE per pair) "
                     "or 'frozen' (static distillation: the re-ranker is not trained, the retriever follows it)",
    "seed": "seeds the data order, the negative sampling and dropout",
    "device": "'auto', 'cpu' or 'cuda' (each process takes its local rank's GPU)",
    "mixed_precision": "'auto' (bf16 where native, else 'no'), 'no', 'bf16' or 'fp16' autocast (fp16: CUDA)",
    "ddp": "with several processes, DistributedDataParallel (bucketed all-reduce overlapped with the backward "
           "pass, no_sync under accumulation) instead of one all-reduce after it; the same gradient to float "
           "rounding (tested), so hashed",
    "grad_cache_chunk": "dual encoder: > 0 encodes the batch this many texts at a time with cached gradients "
                        "(GradCache): the full batch's gradient at one chunk's activation memory, a second "
                        "forward pass (0: off)",
    "gradient_checkpointing": "recompute the encoders' activations in the backward pass: less memory, about a "
                              "third more time, the same gradients (dropout's random stream is replayed)",
    "save_every": "> 0: checkpoint every this many steps (a rerun resumes from the newest)",
    "keep_checkpoints": "how many of the newest checkpoints to keep",
    "threads": "> 0: torch threads per process (0: torch's default, OMP_NUM_THREADS)",
    "log_every": "write a train_log.jsonl line every this many steps",
}

# Settings that may change between a run and its resumption without changing the result's meaning.
# Settings added after artifacts were first built, with the value every earlier run had: hashed only when
# set otherwise (so earlier artifacts keep their hashes), and taken as that value where a checkpoint lacks them.
ADDED_LATER: dict[str, Any] = {"reranker_model": "", "reranker_pooling": "", "kl_reaches_reranker": False,
                               "reranker_loss": "listwise", "grad_cache_chunk": 0, "ddp": False,
                               **ENCODER_ADDED_LATER}
# grad_cache_chunk is not among them: with dropout its chunks draw other masks than an unchunked pass (hashed).
RESUME_MAY_CHANGE = frozenset({"device", "threads", "save_every", "keep_checkpoints", "log_every",
                               "gradient_checkpointing"})
