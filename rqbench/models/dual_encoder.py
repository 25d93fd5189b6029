"""The dual encoder: Hugging Face encoder(s) with CLS or mean pooling, shared or separate towers.

Owns the model class and its saved form. Towers load through `rqbench.models.hf.load_tower`
(safetensors only, remote code only when asked). `DualEncoder.save` writes an HF folder (loadable by any
HF tool) plus ``rqbench_encoder.json`` (pooling, normalisation, lengths, shared towers); separate towers
go to ``query/`` and ``passage/`` subfolders. `DualEncoder.load` reads such a folder (its stored config
wins), or any HF model / "minilm" with the given `EncoderConfig`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from rqbench.models.hf import ENCODER_CONFIG, capped_length, load_tower, resolve_model
from rqbench.models.spec import TITLE_SEP

if TYPE_CHECKING:
    from rqbench.models.spec import EncoderSpec

__all__ = ["ENCODER_CONFIG", "DualEncoder", "EncoderConfig", "saved_config"]


@dataclass(frozen=True)
class EncoderConfig:
    pooling: Literal["cls", "mean"] = "mean"
    normalize: bool = True
    shared: bool = True
    max_query_length: int = 64
    max_passage_length: int = 256
    passage_input: Literal["joined", "title-sep"] = "joined"

    @classmethod
    def from_spec(cls, spec: EncoderSpec, shared: bool = True) -> EncoderConfig:
        return cls(pooling=spec.pooling, normalize=spec.normalize, shared=shared,
                   max_query_length=spec.max_query_length, max_passage_length=spec.max_passage_length,
                   passage_input=spec.passage_input)


def saved_config(folder: Path) -> dict | None:
    """The stored `EncoderConfig` fields of a `DualEncoder.save` folder (None for any other folder)."""
    path = folder / ENCODER_CONFIG
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


class DualEncoder(nn.Module):
    """Query and passage towers (the same module when `config.shared`)."""

    def __init__(self, query_model: str, passage_model: str | None = None, config: EncoderConfig | None = None,
                 trust_remote_code: bool = False):
        super().__init__()
        self.config = config or EncoderConfig(shared=passage_model is None)
        self.tokenizer, self.query_tower = load_tower(query_model, trust_remote_code)
        if self.config.shared:
            self.passage_tokenizer, self.passage_tower = self.tokenizer, self.query_tower
        else:
            self.passage_tokenizer, self.passage_tower = load_tower(passage_model or query_model,
                                                                    trust_remote_code)

    @classmethod
    def load(cls, name: str, config: EncoderConfig | None = None, trust_remote_code: bool = False) -> DualEncoder:
        """From a folder written by `save` (its config wins), or any HF model with `config`."""
        path = Path(resolve_model(name))
        stored_fields = saved_config(path) if path.exists() else None
        if stored_fields is not None:
            stored = EncoderConfig(**stored_fields)
            if stored.shared:
                return cls(str(path), None, stored, trust_remote_code)
            return cls(str(path / "query"), str(path / "passage"), stored, trust_remote_code)
        return cls(str(path) if path.exists() else name, None, config or EncoderConfig(), trust_remote_code)

    @classmethod
    def for_training(cls, name: str, spec: EncoderSpec) -> DualEncoder:
        """The model a training starts from: `name` with `spec`'s pooling, normalisation and lengths; its towers
        as saved, or, with `spec.towers == "separate"`, a one-tower model's tower copied into two."""
        path = Path(resolve_model(name))
        stored = saved_config(path) if path.exists() else None
        source = str(path) if path.exists() else name
        if spec.towers == "separate" and (stored is None or stored.get("shared", True)):
            return cls(source, source, EncoderConfig.from_spec(spec, shared=False))
        if stored is not None and not stored.get("shared", True) and spec.towers != "separate":
            from rqbench.errors import RqbenchError

            raise RqbenchError(f"{name}: a two-tower model; training it needs towers = 'separate' (one tower cannot "
                               "start from two)")
        model = cls.load(name)  # a two-tower save trains on as its two towers
        model.config = EncoderConfig.from_spec(spec, shared=model.config.shared)
        return model

    def save(self, out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.config.shared:
            self.query_tower.save_pretrained(out_dir, safe_serialization=True)
            self.tokenizer.save_pretrained(out_dir)
        else:
            for side, tower, tok in (("query", self.query_tower, self.tokenizer),
                                     ("passage", self.passage_tower, self.passage_tokenizer)):
                tower.save_pretrained(out_dir / side, safe_serialization=True)
                tok.save_pretrained(out_dir / side)
        (out_dir / ENCODER_CONFIG).write_text(json.dumps(asdict(self.config), indent=2), encoding="utf-8")

    def max_length(self, side: Literal["query", "passage"]) -> int:
        """The configured token budget of `side`, capped at its tower's positions (`hf.capped_length`)."""
        if side == "query":
            return capped_length(self.config.max_query_length, self.query_tower, "max_query_length")
        return capped_length(self.config.max_passage_length, self.passage_tower, "max_passage_length")

    def tokenize(self, texts: list[str], side: Literal["query", "passage"]) -> dict[str, torch.Tensor]:
        """Token ids of `texts`; with `passage_input = "title-sep"` each passage string is `title` TITLE_SEP
        `text` (`passage_string`), read as a pair: segment id 0 for the title, 1 for the text."""
        tok = self.tokenizer if side == "query" else self.passage_tokenizer
        if side == "passage" and self.config.passage_input == "title-sep":
            titles, bodies = zip(*(_title_and_text(t) for t in texts), strict=True) if texts else ((), ())
            return tok(list(titles), list(bodies), padding=True, truncation="longest_first",
                       max_length=self.max_length(side), return_tensors="pt")
        return tok(texts, padding=True, truncation=True, max_length=self.max_length(side), return_tensors="pt")

    def forward(self, batch: dict[str, torch.Tensor], side: Literal["query", "passage"]) -> torch.Tensor:
        tower = self.query_tower if side == "query" else self.passage_tower
        hidden = tower(**batch).last_hidden_state
        if self.config.pooling == "cls":
            emb = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.config.normalize:
            emb = nn.functional.normalize(emb, dim=-1)
        return emb


def _title_and_text(passage: str) -> tuple[str, str]:
    title, sep, text = passage.partition(TITLE_SEP)
    return (title, text) if sep else ("", passage)


def passage_string(title: str | None, text: str, passage_input: str) -> str:
    """What a dual encoder reads for a passage: `text` as it is ("joined": title and text already joined), or
    with "title-sep" the title and the text apart (`text` without its leading title, as the groups and
    `Doc.contents` join them)."""
    if passage_input != "title-sep":
        return text
    title = title or ""
    body = text[len(title) + 1:] if title and text.startswith(title + " ") else text
    return f"{title}{TITLE_SEP}{body}"
