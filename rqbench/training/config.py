"""TrainConfig: every setting of a dual-encoder training run, validated on construction (imports no torch).

Owns the names, defaults and meaning of the trainer's knobs; suites and the CLI build it through
`rqbench.backend.build_params` (unknown keys and wrong types are one-line errors) or `from_json_file`.

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


@dataclass(frozen=True)
class TrainConfig:
    """Settings of `train_dual_encoder`; all sizes per process unless said otherwise."""

    model: str = "minilm"  # "minilm" (packaged all-MiniLM-L6-v2), a model folder, or an HF id
    pooling: Literal["cls", "mean"] = "mean"
    normalize: bool = True
    max_query_length: int = 64
    max_passage_length: int = 256
    negatives: Literal["in-batch", "cross-batch"] = "in-batch"  # cross-batch: gather passages of all ranks
    hard_negatives_per_query: int = 0  # from each group's negatives, appended to the passage pool
    batch_size: int = 32  # queries per process per micro-batch
    epochs: int = 1
    max_steps: int = 0  # > 0: stop after this many optimizer steps (overrides epochs)
    lr: float = 2e-5
    warmup_ratio: float = 0.1  # linear warmup over this share of the steps, then linear decay to 0
    weight_decay: float = 0.01  # AdamW; not applied to biases and LayerNorm weights
    max_grad_norm: float = 1.0  # <= 0: no clipping
    grad_accumulation: int = 1  # micro-batches per optimizer step (does not enlarge the negative pool)
    scale: float = 20.0  # inverse temperature of the softmax (20 for cosine scores, 1 for raw dot products)
    seed: int = 13
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"  # autocast; fp16 (with a grad scaler) needs CUDA
    save_every: int = 0  # > 0: checkpoint every this many optimizer steps (and the run resumes from it)
    keep_checkpoints: int = 1  # how many of the newest checkpoints to keep
    threads: int = 0  # > 0: torch intra-op threads per process (0: torch's default / OMP_NUM_THREADS)
    log_every: int = 1  # write a train_log.jsonl line every this many steps

    def __post_init__(self) -> None:
        positive = ("max_query_length", "max_passage_length", "batch_size", "epochs", "grad_accumulation",
                    "log_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("hard_negatives_per_query", "max_steps", "save_every", "threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.scale <= 0:
            raise ValueError("lr and scale must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.negatives not in ("in-batch", "cross-batch"):
            raise ValueError(f"negatives must be 'in-batch' or 'cross-batch', got {self.negatives!r}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")

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


# Settings that may change between a run and its resumption without changing the result's meaning.
RESUME_MAY_CHANGE = frozenset({"device", "threads", "save_every", "keep_checkpoints", "log_every"})
