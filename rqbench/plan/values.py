"""Small helpers of the planner: typed values of a `[variants.train]` table (one-line errors naming the
suite file and line), a stage kind's validated parameters, and a variant's seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.backend import build_params
from rqbench.errors import RqbenchError

if TYPE_CHECKING:
    from rqbench.stages import Node
    from rqbench.suite import Suite, Variant

Step = tuple[str, "Node"]  # (role in a variant's chain, node)


def ratio(table: dict[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise RqbenchError(f"train.{key} must be a probability between 0 and 1, got {value!r}", where)
    return float(value)


def seed_of(variant: Variant, suite: Suite) -> int:
    """The seed of a variant's training data and trainer: its own (one seed of an arm), else the suite's."""
    return variant.seed if variant.seed is not None else suite.seed


def whole(table: dict[str, Any], key: str, kind: type, default: Any, where: str, minimum: int | None = None) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise RqbenchError(f"train.{key} must be {kind.__name__}, got {type(value).__name__} {value!r}", where)
    if minimum is not None and value < minimum:
        raise RqbenchError(f"train.{key} must be >= {minimum}, got {value}", where)
    return value


def stage_params(cls: type, where: str, **values: Any) -> Any:
    """A stage kind's parameters, validated like a backend's (wrong type or value: one line)."""
    return build_params(cls, values, where)
