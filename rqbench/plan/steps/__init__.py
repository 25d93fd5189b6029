"""The training steps, in the order the planner tries them: the first *source* that applies to the table
makes the groups (denoise, else mine, else groups from qrels), then every *transform* that applies (hybrid
lists, then augmentation). A new step is a module here with its `STEP` declaration, added to `STEPS`
(`base` says what a declaration holds); the planner needs no change."""

from __future__ import annotations

from rqbench.plan.steps import augment, denoise, groups, hybrid, mine
from rqbench.plan.steps.base import Follows, Planning, StepInput, TrainingStep
from rqbench.plan.steps.train import TRAIN_NODE_FOLLOWS, TRAIN_NODE_KEYS

STEPS: tuple[TrainingStep, ...] = (denoise.STEP, mine.STEP, groups.STEP, hybrid.STEP, augment.STEP)


def step_keys() -> set[str]:
    """Every `[variants.train]` key a training step reads."""
    return {key for step in STEPS for key in step.keys}


def step_references() -> tuple[str, ...]:
    """Every `[variants.train]` key a training step follows to another variant, in declared order."""
    return tuple(dict.fromkeys(f.key for step in STEPS for f in step.follows))


def pipeline_keys() -> set[str]:
    """Every [variants.train] key the planner reads; the others are the trainer's settings (TrainConfig)."""
    return set(TRAIN_NODE_KEYS) | step_keys()


def train_references() -> tuple[str, ...]:
    """Every [variants.train] key that names another variant: the training steps' and the train node's."""
    return tuple(dict.fromkeys([*step_references(), *(f.key for f in TRAIN_NODE_FOLLOWS)]))


__all__ = ["STEPS", "TRAIN_NODE_FOLLOWS", "TRAIN_NODE_KEYS", "Follows", "Planning", "StepInput", "TrainingStep",
           "pipeline_keys", "step_keys", "step_references", "train_references"]
