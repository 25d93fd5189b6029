"""What a training step declares: how a variant's `[variants.train]` table reaches one stage kind's inputs.

A variant's training data is a short chain of stages: one *source* makes its groups (`groups` from qrels,
`mine` from a retriever's run, `denoise` filtering that run with a teacher), then *transforms* take the
groups so far (`hybrid` lists, `augment`ed with pseudo-labels). Each stage kind that can be in the chain
declares, as a `TrainingStep`:

- `keys`: the `[variants.train]` keys it reads (the rest go to the trainer, `rqbench.plan.train_settings`);
- `follows`: which of those keys name another variant, and what it takes from it (its run on the training
  split, its scores of a run, its checkpoint) for which input. A name resolves per seed: an arm's variant
  follows the same seed's variant of the arm it names (`Suite.reference`);
- `applies`: whether the table asks for the step; `check`: its rules on the table, run before any planning;
- `plan`: the nodes it adds, through the planner's generic calls (`Planning`).

The planner (`rqbench.plan._Planner._training_data`) knows none of them by name: it runs every step's `check`, the
first source that applies, then every transform that applies, in the order of `rqbench.plan.steps.STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from rqbench.data.dataset import Dataset
    from rqbench.plan.values import Step
    from rqbench.stages import Node
    from rqbench.suite import Suite, Variant

TAKES = ("run", "scores", "checkpoint")


@dataclass(frozen=True)
class Follows:
    """`train.<key>` names a variant; the step takes its `takes` ("run": its run on the training split;
    "scores": its scores of a run, a cross-encoder's or a calibrated fusion's; "checkpoint": its trained
    model) for input `feeds` of the declaring step's stage kind (the value may pass through a node between,
    as hybrid's undenoised pool is mined from the run first)."""

    key: str
    takes: Literal["run", "scores", "checkpoint"]
    feeds: str

    def __post_init__(self) -> None:
        if self.takes not in TAKES:
            raise ValueError(f"Follows.takes must be one of {TAKES}, got {self.takes!r}")


@dataclass(frozen=True)
class StepInput:
    """What a step is planned for: the variant, its train table, the training data and the groups so far."""

    variant: Variant
    table: dict[str, Any]
    dataset: Dataset
    split: str
    fps: dict[str, str]  # the training split's content fingerprints (corpus, queries, qrels)
    groups: Node | None  # the groups the chain has made so far; None for a source
    where: str  # "suite file:line", for one-line errors


class Planning(Protocol):
    """The planner's generic calls a step may use."""

    suite: Suite

    def add(self, node: Node) -> Node: ...

    def run_of(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
               prefix: str) -> tuple[Node, list[Step]]: ...

    def score_of(self, variant: Variant, run: Node, dataset: Dataset, split: str, k: int,
                 prefix: str) -> tuple[Node, list[Step]]: ...

    def check_split(self, dataset: Dataset, split: str, line: int | None, need_qrels: bool) -> None: ...

    def dataset(self, spec: str | dict[str, Any], line: int | None = None) -> Dataset: ...

    def users_of(self, variant: Variant) -> list[Variant]: ...


@dataclass(frozen=True)
class TrainingStep:
    kind: str  # the stage kind it adds (the last node it plans)
    position: Literal["source", "transform"]
    keys: tuple[str, ...]
    follows: tuple[Follows, ...]
    applies: Callable[[dict[str, Any]], bool]
    plan: Callable[[Planning, StepInput], tuple[Node, list[Step]]]
    check: Callable[[dict[str, Any], str], None] | None = None
    doc: str = ""
