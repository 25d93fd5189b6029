"""Backend capability protocols and the registry (built-ins plus the `rqbench.backends` entry points).

A backend implements only what it can do. Its parameters are a frozen dataclass (`Params`); a suite's
`params` table is validated against it (unknown key or wrong type: a one-line error with "did you
mean"). Fields listed in `Params.INDEX_FIELDS` decide the index; the others decide the search.
Fields listed in `Params.NOT_HASHED` (threads, batch sizes) change speed, never results, and are left
out of cache keys.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.types import Doc, Query, Run

ENTRY_POINT_GROUP = "rqbench.backends"

BUILTIN_BACKENDS: dict[str, str] = {
    "bm25": "rqbench_backends.bm25:BM25Backend",
    "dense": "rqbench_backends.dense:DenseBackend",
    "cross-encoder": "rqbench_backends.cross_encoder:CrossEncoderBackend",
    "trec-run": "rqbench_backends.trec_run:TrecRunBackend",
    "fusion": "rqbench_backends.fusion:FusionBackend",
}


@runtime_checkable
class Backend(Protocol):
    name: ClassVar[str]
    Params: ClassVar[type]

    def __init__(self, params: Any) -> None: ...

    def describe(self) -> dict[str, Any]:
        """Versions and anything else that changes results; it feeds the cache key."""
        ...


@runtime_checkable
class Retriever(Backend, Protocol):
    def index(self, corpus: Sequence[Doc], workdir: Path) -> None:
        """Build an index of `corpus` inside the (empty, existing) folder `workdir`."""
        ...

    def search(self, index_dir: Path, queries: Sequence[Query], k: int) -> Run:
        """Top-`k` documents per query from the index in `index_dir`."""
        ...


@runtime_checkable
class Reranker(Backend, Protocol):
    def rerank(self, queries: Sequence[Query], candidates: Run, docs: dict[str, Doc], k: int) -> Run: ...


@runtime_checkable
class Encoder(Backend, Protocol):
    def encode_queries(self, texts: Sequence[str]) -> Any: ...

    def encode_docs(self, docs: Sequence[Doc]) -> Any: ...


CAPABILITIES: dict[str, tuple[str, ...]] = {
    "retriever": ("index", "search"),
    "reranker": ("rerank",),
    "encoder": ("encode_queries", "encode_docs"),
    "run": ("read_run",),  # an external run: imported as it is, nothing to index or search
    "fuser": ("fuse",),  # other variants' runs combined ([variants.fuse])
}


def capabilities(cls: type) -> list[str]:
    """What a backend class can do. "trainable": it names the training task (`TRAINING_TASK`, a key of
    `rqbench.training.tasks.TASKS`) that trains its `model` in a suite's `train` stage."""
    found = [cap for cap, methods in CAPABILITIES.items() if all(callable(getattr(cls, m, None)) for m in methods)]
    if getattr(cls, "TRAINING_TASK", None):
        found.append("trainable")
    return found


@dataclass(frozen=True)
class BackendInfo:
    name: str
    target: str  # "module:Class"
    origin: str  # "built-in" or the distribution that registered it


def registry() -> dict[str, BackendInfo]:
    found = {name: BackendInfo(name, target, "built-in") for name, target in BUILTIN_BACKENDS.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found[ep.name] = BackendInfo(ep.name, ep.value, dist.name if dist else "entry point")
    return found


def load_backend_class(name: str, where: str | None = None) -> type:
    backends = registry()
    if name not in backends:
        raise RqbenchError(f"unknown backend '{name}'" + did_you_mean(name, backends), where)
    target = backends[name].target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise RqbenchError(f"backend '{name}' ({target}) cannot be loaded: {exc}", where) from None


# ---- params: validate a TOML table against a backend's frozen dataclass ----------------------------

def build_params(params_cls: type, values: dict[str, Any], where: str | None = None) -> Any:
    """Instantiate `params_cls` from `values` (a `preset` filled in first), rejecting unknown keys and wrong
    types in one line."""
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    if isinstance(values.get("preset"), str):
        values = apply_preset(params_cls, values, where)
    hints = typing.get_type_hints(params_cls)
    renamed = getattr(params_cls, "RENAMED", {})
    for key, value in values.items():
        if key not in fields and key in renamed:
            raise RqbenchError(f"parameter '{key}' is now '{renamed[key]}'", where)
        if key not in fields:
            raise RqbenchError(f"unknown parameter '{key}'" + did_you_mean(key, fields), where)
        if not _type_ok(value, hints[key]):
            raise RqbenchError(
                f"parameter '{key}' must be {_type_name(hints[key])}, got {type(value).__name__} {value!r}",
                where,
            )
    # 1 and 1.0 are the same k1: coerce ints given for float fields, so they hash the same
    values = {k: float(v) if hints[k] is float and isinstance(v, int) and not isinstance(v, bool) else v
              for k, v in values.items()}
    try:
        return params_cls(**values)
    except (TypeError, ValueError) as exc:
        raise RqbenchError(f"invalid parameters: {exc}", where) from None


def params_dict(params: Any, include_unhashed: bool = True) -> dict[str, Any]:
    """The parameters as a dict; without the unhashed ones (`NOT_HASHED`, and `ADDED_LATER` fields at their
    default: a field added later names no new artifact until it is set), for cache keys."""
    data = dataclasses.asdict(params)
    if not include_unhashed:
        for key in getattr(params, "NOT_HASHED", ()):
            data.pop(key, None)
        for key, default in getattr(params, "ADDED_LATER", {}).items():
            if key in data and data[key] == default:
                data.pop(key)
    return data


def apply_preset(params_cls: type, values: dict[str, Any], where: str | None = None) -> dict[str, Any]:
    """`values` with its `preset`'s settings filled in where `values` does not set them (a params class
    declares `PRESETS`: name -> settings); unknown preset: one line with "did you mean"."""
    presets = getattr(params_cls, "PRESETS", {})
    name = values.get("preset")
    if not presets or not name:
        return values
    if name not in presets:
        raise RqbenchError(f"unknown preset '{name}'" + did_you_mean(str(name), presets), where)
    return {**presets[name], **values}


def split_params(params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(index part, search part) of the hashed parameters."""
    data = params_dict(params, include_unhashed=False)
    index_fields = set(getattr(params, "INDEX_FIELDS", ()))
    return ({k: v for k, v in data.items() if k in index_fields},
            {k: v for k, v in data.items() if k not in index_fields})


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple):
        (arg, *_) = typing.get_args(hint) or (Any,)
        return isinstance(value, list | tuple) and all(_type_ok(v, arg) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))
