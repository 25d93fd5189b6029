"""Stage kinds, one module each, in a plain registry (`rqbench stages` lists them).

Importing this package loads no torch, JVM or faiss: each kind imports what it needs inside `produce`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.stages import (
    audit,
    augment,
    denoise,
    encode,
    evaluate,
    fuse,
    groups,
    hybrid,
    import_run,
    index,
    judge,
    mine,
    rerank,
    retrieve,
    score,
    train,
)
from rqbench.stages.base import ARTIFACT_TYPES, BuildContext, Input, Node, StageKind

STAGE_KINDS: dict[str, StageKind] = {k.name: k for k in (
    index.KIND, retrieve.KIND, import_run.KIND, evaluate.KIND, groups.KIND, mine.KIND, train.KIND,
    score.KIND, rerank.KIND, denoise.KIND, augment.KIND, fuse.KIND, judge.KIND, audit.KIND, hybrid.KIND,
    encode.KIND, encode.EMBEDDINGS_KIND)}


def stage_kind(name: str) -> StageKind:
    if name not in STAGE_KINDS:
        raise RqbenchError(f"unknown stage kind '{name}'" + did_you_mean(name, STAGE_KINDS))
    return STAGE_KINDS[name]


def describe_kinds() -> list[dict[str, Any]]:
    """Every kind with its inputs, output and parameters (name, type, default): what `rqbench stages` prints."""
    out = []
    for kind in STAGE_KINDS.values():
        params = []
        for f in dataclasses.fields(kind.Params):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            params.append({"name": f.name, "type": str(f.type), "default": default,
                           "required": f.default is dataclasses.MISSING
                           and f.default_factory is dataclasses.MISSING})
        out.append({"name": kind.name, "version": kind.version, "inputs": dict(kind.inputs),
                    "output": kind.output, "doc": kind.doc, "params": params})
    return out


__all__ = ["ARTIFACT_TYPES", "STAGE_KINDS", "BuildContext", "Input", "Node", "StageKind", "describe_kinds",
           "stage_kind"]
