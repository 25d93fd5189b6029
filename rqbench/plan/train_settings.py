"""A variant's `[variants.train]` table -> the trainer's settings (TrainConfig), split into hashed and runtime.

The encoder settings (`rqbench.models.spec.ENCODER_FIELDS`: model, pooling, normalize, lengths) are
declared once, by `EncoderSpec`, and come from the variant's backend params, so training and retrieval
always use the same encoder; setting one of them in the train table is an error. The planner's own keys
(`rqbench.plan.steps.pipeline_keys`: the train node's and those the training steps declare) are not
trainer settings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rqbench.backend import build_params
from rqbench.errors import RqbenchError
from rqbench.plan.steps import pipeline_keys
from rqbench.suite import Suite, Variant

# Checkpoint often enough that a killed suite resumes training close to where it stopped.
DEFAULT_SAVE_EVERY = 25


def trainer_settings(variant: Variant, backend: Any, suite: Suite, where: str,
                     nproc: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hashed settings, runtime-only settings) of the variant's TrainConfig, validated in one line."""
    from rqbench.models.spec import ENCODER_FIELDS
    from rqbench.training.config import ADDED_LATER, RESUME_MAY_CHANGE, TrainConfig

    table = dict(variant.train or {})
    settings = {k: v for k, v in table.items() if k not in pipeline_keys()}
    params = dataclasses.asdict(backend.params)
    # what defines the model comes from the variant's params (a backend may declare its own list)
    for key in getattr(type(backend.params), "TRAIN_FIELDS", ENCODER_FIELDS):
        if key in settings:
            raise RqbenchError(f"train.{key} comes from the variant's params; set params.{key} instead", where)
        if key in params:
            settings[key] = params[key]
    # a preset's training settings (the dense backend's "rocketqa": a dot product at scale 1), unless set
    preset = getattr(backend.params, "preset", "")
    for key, value in getattr(type(backend.params), "PRESET_TRAIN", {}).get(preset, {}).items():
        settings.setdefault(key, value)
    settings.setdefault("seed", variant.seed if variant.seed is not None else suite.seed)
    settings.setdefault("save_every", DEFAULT_SAVE_EVERY)
    if "device" not in settings and "device" in params:
        settings["device"] = params["device"]
    # the groups' negatives (mined hard ones, or random ones) join each query's passage pool
    settings["hard_negatives_per_query"] = int(table.get("hard_negatives", 0)) or int(table.get("random_negatives", 0))
    if "sample" in table:
        if table["sample"] not in ("random", "top"):
            raise RqbenchError(f"train.sample must be 'random' (drawn afresh each epoch) or 'top' (rank order), "
                               f"got {table['sample']!r}", where)
        settings["negative_sampling"] = table["sample"]
    try:
        config = build_params(TrainConfig, settings, where)
    except RqbenchError as exc:
        raise RqbenchError(f"[variants.train]: {exc.problem}", where) from None
    if config.negatives == "cross-batch" and nproc < 2:
        raise RqbenchError("train.negatives = 'cross-batch' needs train.nproc >= 2: with one process the "
                           "negatives are in-batch ones", where)
    values = dataclasses.asdict(config)
    values.pop("model")  # named by the base model's digests or the init checkpoint's hash instead
    hashed = {k: v for k, v in values.items() if k not in RESUME_MAY_CHANGE
              and not (k in ADDED_LATER and v == ADDED_LATER[k])}
    runtime = {k: v for k, v in values.items() if k in RESUME_MAY_CHANGE}
    return hashed, runtime
