"""The cross-encoder: one Hugging Face sequence-classification model that scores (query, passage) pairs.

`CrossEncoder.load(name)` takes a folder written by `save` (its stored config wins), an HF cross-encoder
checkpoint with one label, or a bare encoder ("minilm", an HF id or folder), which gets a new 1-label
head initialised from a fixed seed (so the same name always gives the same model). `save(folder)` writes
an HF folder (safetensors, tokenizer) plus ``rqbench_cross_encoder.json``.

`pooling` picks what the 1-logit head reads: "cls" is the model's own classification path (BERT: the
pooled [CLS] state -> dropout -> Linear; RocketQA's), "mean" is the mean of the last layer's token states
over the attention mask -> the same dropout -> the same Linear, "cls-raw" the raw last-layer [CLS] state ->
the same dropout and Linear (RocketQAv2's joint re-ranker; "mean" and "cls-raw" need a BERT-style model whose
head is one Linear). "mean" suits an encoder trained with mean pooling, as all-MiniLM-L6-v2 was: its [CLS]/pooler were
never trained for it, and the pooler's small weights leave the head almost the same input for every pair.
A saved folder records its pooling (a folder saved before pooling was recorded was trained through [CLS]);
asking a saved folder for another pooling than the one it was trained with is an error, since the head
would read states it never learned from. A plain HF tool loading the folder uses its [CLS] path.

`score(pairs)` returns float32 logits in input order. Batches are cut from the pairs sorted by their
tokenized (truncated) length, longest first, ties by position, so each batch is padded to a near-equal
length and the same input always gives the same batches. `precision` ("auto" by default) is resolved by
`rqbench.precision.resolve_precision` and applied with `autocast_for`; the resolved value is kept in
`resolved_precision`. Under bf16/fp16 the forward runs on a twin of the model whose Linear weights are
stored in that dtype (the rest shared with the fp32 model): autocast would cast those weights to exactly
these values on every call, so this is plain autocast without the per-call casts, which on a 2-core
AVX512-BF16 CPU was about 1.7x fp32 against about 1.3x for plain autocast. The head (the Linear with one
output) stays fp32, outside autocast, so scores are not rounded to bf16's 8 bits (which makes ties).
The twin is rebuilt when the weights change (a parameter's version counter moves, e.g. after an
optimiser step).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rqbench.dense.encoding import check_device, length_order
from rqbench.errors import RqbenchError
from rqbench.models.cross_encoder_config import CROSS_ENCODER_CONFIG, POOLINGS, stored_settings
from rqbench.models.hf import capped_length, load_tower, resolve_model
from rqbench.precision import autocast_for, resolve_precision

__all__ = ["CROSS_ENCODER_CONFIG", "HEAD_SEED", "CrossEncoder", "CrossEncoderConfig"]

HEAD_SEED = 0  # seeds the new head of a bare encoder
_LENGTH_CHUNK = 8192  # pairs tokenized at a time when measuring lengths (bounds memory)
_LOW_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class CrossEncoderConfig:
    max_length: int = 256
    pooling: str = "cls"



def _has_classifier(path: str, trust_remote_code: bool) -> tuple[bool, int]:
    """(whether the checkpoint is a sequence classifier, its number of labels)."""
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise RqbenchError(f"cannot load model '{path}': {str(exc).splitlines()[0]}") from None
    archs = getattr(config, "architectures", None) or []
    return any(a.endswith("ForSequenceClassification") for a in archs), int(config.num_labels)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings off (its report of the missing head of a bare encoder)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _plain_head(model: nn.Module) -> bool:
    """Whether the classification head is exactly dropout -> Linear over the encoder's states (BERT's),
    so the mean path can feed it the mean state in place of the pooled [CLS]."""
    head = {name for name, _ in model.named_children()} - {model.base_model_prefix}
    return (isinstance(getattr(model, "classifier", None), nn.Linear)
            and isinstance(getattr(model, "dropout", None), nn.Dropout) and head == {"classifier", "dropout"})


def _fp32_linear(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    with torch.autocast(x.device.type, enabled=False):
        return nn.functional.linear(x.float(), linear.weight, linear.bias)


class CrossEncoder(nn.Module):
    """A sequence-classification model with one output: `forward` gives one logit per pair."""

    def __init__(self, tokenizer: Any, model: nn.Module, config: CrossEncoderConfig):
        super().__init__()
        self.tokenizer = tokenizer
        self.model = model
        self.config = config
        self.resolved_precision: str | None = None  # set by each `score` call
        self._twin: tuple[tuple, nn.Module] | None = None

    @classmethod
    def load(cls, name: str = "minilm", max_length: int | None = None, trust_remote_code: bool = False,
             pooling: str | None = None) -> CrossEncoder:
        """From a `save` folder (its config wins unless `max_length`/`pooling` are given), an HF cross-encoder
        with one label, or a bare encoder given a new seeded 1-label head. Defaults: 256 tokens, "cls"."""
        path = resolve_model(name)
        stored = stored_settings(path)
        fields = dict(stored or {})
        if max_length is not None:
            fields["max_length"] = max_length
        if pooling is not None and stored is not None and pooling != fields["pooling"]:
            raise RqbenchError(f"cross-encoder '{name}' was trained with pooling '{fields['pooling']}'; "
                               f"pooling '{pooling}' would read states its head never learned from")
        if pooling is not None:
            fields["pooling"] = pooling
        config = CrossEncoderConfig(**fields)
        if config.max_length < 2:
            raise RqbenchError(f"max_length must be >= 2, got {config.max_length}")
        if config.pooling not in POOLINGS:
            raise RqbenchError(f"pooling must be one of {', '.join(POOLINGS)}, got {config.pooling!r}")
        is_classifier, num_labels = _has_classifier(path, trust_remote_code)
        if is_classifier:
            if num_labels != 1:
                raise RqbenchError(f"a cross-encoder needs a 1-label head; '{name}' has {num_labels} labels")
            tokenizer, model = load_tower(path, trust_remote_code, head="sequence-classification")
        else:
            with torch.random.fork_rng(devices=[]), _quiet_transformers():  # the head is missing on purpose
                torch.manual_seed(HEAD_SEED)
                tokenizer, model = load_tower(path, trust_remote_code, head="sequence-classification",
                                              num_labels=1)
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                # own, aligned memory instead of a view into the mmap'd file: BLAS kernels may round
                # differently at another alignment, and a saved folder must score like its original
                tensor.data = tensor.data.clone()
        if config.pooling != "cls" and not _plain_head(model):
            raise RqbenchError(f"pooling '{config.pooling}' needs a BERT-style model whose head is dropout + one "
                               f"Linear layer; '{name}' ({type(model).__name__}) has another head: use pooling 'cls'")
        model.eval()
        return cls(tokenizer, model, config)

    def save(self, folder: str | Path) -> None:
        """An HF folder (safetensors weights, tokenizer) plus ``rqbench_cross_encoder.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        (folder / CROSS_ENCODER_CONFIG).write_text(json.dumps(asdict(self.config), indent=2), encoding="utf-8")

    def max_length(self) -> int:
        """`config.max_length`, capped at the model's positions (`hf.capped_length`)."""
        return capped_length(self.config.max_length, self.model, "max_length")

    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> dict[str, torch.Tensor]:
        """Padded tensors of `pairs`, each truncated (longest side first) to `max_length()` tokens."""
        return self.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True,
                              truncation="longest_first", max_length=self.max_length(), return_tensors="pt")

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._logits(self.model, batch)[:, 0]

    def _logits(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(pairs, labels) logits of `model` (this model or its low-precision twin) by the configured pooling."""
        if self.config.pooling == "cls":
            return model(**batch).logits
        hidden = model.base_model(**batch).last_hidden_state.float()
        if self.config.pooling == "cls-raw":
            return model.classifier(model.dropout(hidden[:, 0]))
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return model.classifier(model.dropout(pooled))

    def token_lengths(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Tokenized length of each pair, truncated as `score` truncates it."""
        lengths = np.empty(len(pairs), dtype=np.int64)
        max_length = self.max_length()
        for start in range(0, len(pairs), _LENGTH_CHUNK):
            chunk = pairs[start:start + _LENGTH_CHUNK]
            enc = self.tokenizer([p[0] for p in chunk], [p[1] for p in chunk], truncation="longest_first",
                                 max_length=max_length, return_attention_mask=False,
                                 return_token_type_ids=False, return_length=True)
            lengths[start:start + len(chunk)] = enc["length"]
        return lengths

    def score(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, precision: str = "auto",
              device: str = "cpu") -> np.ndarray:
        """float32 logits of `pairs` in input order; the precision used is left in `resolved_precision`."""
        if batch_size < 1:
            raise RqbenchError(f"batch_size must be >= 1, got {batch_size}")
        try:
            resolved = resolve_precision(precision, device)
        except ValueError as exc:
            raise RqbenchError(str(exc)) from None
        dev = check_device(device)
        self.resolved_precision = resolved
        pairs = list(pairs)
        self.model.to(dev)
        self.model.eval()
        model = self.model if resolved == "fp32" else self._low_precision_twin(_LOW_DTYPES[resolved])
        order = length_order(self.token_lengths(pairs))
        out = np.empty(len(pairs), dtype=np.float32)
        with torch.inference_mode(), autocast_for(resolved, dev.type):
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                batch = {k: v.to(dev) for k, v in self.tokenize([pairs[i] for i in rows]).items()}
                logits = self._logits(model, batch)
                if logits.shape[-1] != 1:
                    raise RqbenchError(f"a cross-encoder needs a 1-label head; the model has {logits.shape[-1]}")
                out[rows] = logits[:, 0].float().cpu().numpy()
        return out

    def _low_precision_twin(self, dtype: torch.dtype) -> nn.Module:
        """The model with its Linear weights stored in `dtype`, sharing every other tensor with it; the
        1-output head stays fp32 and runs outside autocast, so scores are not rounded to `dtype`."""
        params = list(self.model.parameters())
        key = (dtype, tuple((p.data_ptr(), p._version) for p in params))
        if self._twin is None or self._twin[0] != key:
            self._twin = None  # free the old twin before building the new one
            linear = {id(t) for m in self.model.modules() if isinstance(m, nn.Linear)
                      for t in m.parameters(recurse=False)}
            shared = {id(t): t for t in [*params, *self.model.buffers()] if id(t) not in linear}
            twin = copy.deepcopy(self.model, memo=shared)
            for module in twin.modules():
                if isinstance(module, nn.Linear) and module.out_features == 1:
                    module.forward = functools.partial(_fp32_linear, module)  # type: ignore[method-assign]
                elif isinstance(module, nn.Linear):
                    module.to(dtype)
            self._twin = (key, twin)
        return self._twin[1]
