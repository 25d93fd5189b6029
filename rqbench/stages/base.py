"""What a stage kind is, what a planned node is, and what a stage sees while it builds.

A stage kind is declarative data, the way ir_measures declares a measure: a name, a version (bumped when
its code changes what it produces, so old artifacts stop matching), typed inputs (role -> artifact type),
the artifact type it outputs, a frozen dataclass of parameters, a one-line doc and `produce`. A *node*
is one use of a kind in a planned suite: its parameters plus the nodes feeding each input role. The
node's hash covers kind, version, parameters and the inputs' hashes, so hashes follow artifacts: the
same work asked for by two variants or two suites is one artifact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.artifacts import stable_hash

if TYPE_CHECKING:
    from rich.console import Console

    from rqbench.artifacts import ArtifactStore
    from rqbench.data.dataset import Dataset

# The artifact types stages hand each other, and the file each type's folder holds.
ARTIFACT_TYPES: dict[str, str] = {
    "index": "a backend's index folder",
    "run": "run.trec (TREC run, ties broken by docid)",
    "groups": "groups.jsonl (query, positives, negatives in rank order)",
    "checkpoint": "one HF-format model folder per output (model/, ...)",
    "scores": "scores.tsv (query, document, score)",
    "metrics": "metrics.json (aggregate, per query, definitions, curves)",
    "audit": "audit.json (the false negatives among a run's mined negatives, and each teacher's removal)",
    "embeddings": "embeddings.f32 + embeddings.json (a corpus's passage vectors in corpus order), or a part's shards",
}


@dataclass(frozen=True)
class StageKind:
    name: str
    version: int
    inputs: dict[str, str]  # role -> artifact type; a type ending in "?" is optional
    output: str
    Params: type
    doc: str
    produce: Callable[[BuildContext], None]
    resumable: bool = False  # the producer continues from what a killed attempt left

    def input_type(self, role: str) -> tuple[str, bool]:
        kind = self.inputs[role]
        return kind.rstrip("?"), kind.endswith("?")


@dataclass(frozen=True)
class Input:
    """An input edge: the producing node, and a sub-folder of its artifact (one checkpoint of several)."""

    node: Node
    part: str = ""


@dataclass(eq=False)
class Node:
    kind: StageKind
    params: Any  # an instance of kind.Params
    inputs: dict[str, Input] = field(default_factory=dict)
    dataset: Dataset | None = None  # what the stage reads (its content fingerprints are in params)
    runtime: dict[str, Any] = field(default_factory=dict)  # speed/bookkeeping settings: never hashed
    label: str = ""  # the variant (or reference) that first asked for this node, for people
    resumable: bool = False

    @cached_property
    def hash(self) -> str:
        return stable_hash({
            "kind": self.kind.name, "version": self.kind.version, "params": dataclasses.asdict(self.params),
            "inputs": {role: [edge.node.hash, edge.part] if edge.part else edge.node.hash
                       for role, edge in sorted(self.inputs.items())},
        })

    @property
    def output(self) -> str:
        return self.kind.output


@dataclass
class BuildContext:
    """What `produce` gets: its node, the folder to fill, the store (for input paths) and shared services."""

    node: Node
    out: Path
    store: ArtifactStore
    console: Console
    services: Any  # execute.Services: backend instances shared between nodes, stderr echo

    def input_path(self, role: str) -> Path:
        edge = self.node.inputs[role]
        path = self.store.path(edge.node.kind.name, edge.node.hash)
        return path / edge.part if edge.part else path

    def has_input(self, role: str) -> bool:
        return role in self.node.inputs

    @property
    def params(self) -> Any:
        return self.node.params

    @property
    def dataset(self) -> Dataset:
        if self.node.dataset is None:
            raise RuntimeError(f"stage {self.node.kind.name} was planned without a dataset")
        return self.node.dataset
