"""The training stages of a suite variant with a `[variants.train]` table:

    mine:index -> mine:retrieve   (only with hard negatives: another variant retrieves for the train split)
    groups                        (training groups: qrels positives + mined hard / random negatives)
    train                         (the dual encoder, one process or `nproc` through torchrun)

The trained checkpoint then replaces the variant's `model` parameter for its own index/retrieve stages.
The trainer's own settings (epochs, batch_size, negatives = "in-batch" | "cross-batch", ...) are checked
against `rqbench.training.trainer.TrainConfig`; the model, pooling and lengths come from the variant's
backend parameters, so training and retrieval always use the same encoder settings.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.backend import build_params
from rqbench.errors import RqbenchError
from rqbench.suite import TRAIN_PIPELINE_KEYS, Suite, Variant

if TYPE_CHECKING:
    from rqbench.pipeline import RunContext, Stage, VariantRun

# Encoder settings shared by the backend and the trainer: taken from the variant's backend params.
SHARED_WITH_BACKEND = ("model", "pooling", "normalize", "max_query_length", "max_passage_length")


def _where(variant: Variant, suite: Suite) -> str:
    return f"{suite.path}:{variant.line}" if variant.line else str(suite.path)


# Checkpoint often enough that a killed suite resumes training close to where it stopped.
DEFAULT_SAVE_EVERY = 25


def trainer_settings(variant: Variant, backend: Any, suite: Suite) -> dict[str, Any]:
    """The TrainConfig values for this variant, validated (unknown key / wrong type: one line)."""
    from rqbench.training.config import TrainConfig

    table = dict(variant.train or {})
    settings = {k: v for k, v in table.items() if k not in TRAIN_PIPELINE_KEYS}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    params = dataclasses.asdict(backend.params)
    for key in SHARED_WITH_BACKEND:
        if key in settings:
            raise RqbenchError(f"train.{key} comes from the variant's params; set params.{key} instead",
                               _where(variant, suite))
        if key in fields and key in params:
            settings[key] = params[key]
    settings.setdefault("seed", suite.seed)
    settings.setdefault("save_every", DEFAULT_SAVE_EVERY)
    if "device" not in settings and "device" in params:
        settings["device"] = params["device"]
    if "hard_negatives_per_query" in fields:
        # the groups' negatives (mined hard ones, or random ones) join each query's passage pool
        settings.setdefault("hard_negatives_per_query",
                            int(table.get("hard_negatives", 0)) or int(table.get("random_negatives", 0)))
    config = build_params(TrainConfig, settings, _where(variant, suite) + " [train]")
    return dataclasses.asdict(config)


def validate_train_table(variant: Variant, suite: Suite, backend: Any) -> None:
    table = variant.train or {}
    hard = table.get("hard_negatives", 0)
    if not isinstance(hard, int) or hard < 0:
        raise RqbenchError("train.hard_negatives must be a whole number >= 0", _where(variant, suite))
    if hard and not table.get("mine_from"):
        raise RqbenchError("train.hard_negatives needs train.mine_from (the variant that retrieves them)",
                           _where(variant, suite))
    nproc = table.get("nproc", 1)
    if not isinstance(nproc, int) or nproc < 1:
        raise RqbenchError("train.nproc must be a whole number >= 1", _where(variant, suite))
    if "model" not in {f.name for f in dataclasses.fields(backend.params)}:
        raise RqbenchError(f"backend '{variant.backend}' has no model to train", _where(variant, suite))
    trainer_settings(variant, backend, suite)


def plan_training(ctx: RunContext, variant: Variant, vr: VariantRun) -> Stage:
    """Run (or reuse) the mining, groups and train stages of `variant`; return the train stage."""
    from rqbench.pipeline import Stage, _run, index_stage, retrieve_stage

    table = variant.train or {}
    suite = ctx.suite
    dataset = ctx.dataset_named(table.get("dataset"))  # train.dataset: train on other data (zero-shot)
    split = table.get("split", "train")
    hard = int(table.get("hard_negatives", 0))
    random_negatives = int(table.get("random_negatives", 0))
    inputs: tuple[Stage, ...] = ()
    if hard:
        source = suite.variant(table["mine_from"])
        src_backend = ctx.backends[source.name]
        idx = _run(ctx, vr, "mine:index", index_stage(source.backend, src_backend, dataset), backend=src_backend)
        depth = int(table.get("mine_depth", 100))
        inputs = (_run(ctx, vr, "mine:retrieve", retrieve_stage(src_backend, dataset, idx, split, depth, False),
                       backend=src_backend),)
    groups = _run(ctx, vr, "groups", Stage("groups", {
        "split": split, "corpus": dataset.fingerprint("corpus"), "queries": dataset.fingerprint(f"queries/{split}"),
        "qrels": dataset.fingerprint(f"qrels/{split}"), "hard_negatives": hard,
        "mine_depth": int(table.get("mine_depth", 100)) if hard else None,
        "random_negatives": random_negatives, "seed": suite.seed}, inputs, dataset))
    from rqbench.training.config import RESUME_MAY_CHANGE

    settings = trainer_settings(variant, vr.backend, suite)
    hashed = {k: v for k, v in settings.items() if k not in RESUME_MAY_CHANGE}
    runtime = {k: v for k, v in settings.items() if k in RESUME_MAY_CHANGE}
    return _run(ctx, vr, "train", Stage("train", {
        "trainer": hashed, "nproc": int(table.get("nproc", 1)), "base": vr.backend.describe()}, (groups,),
        runtime=runtime), resumable=True)


def produce_groups(ctx: RunContext, stage: Stage, out: Path) -> None:
    from rqbench.training.groups import groups_from_qrels, write_groups
    from rqbench.training.mining import mine_hard_negatives
    from rqbench.types import read_trec_run

    cfg = stage.config
    dataset = stage.dataset or ctx.dataset
    if stage.inputs:
        run = read_trec_run(ctx.store.path("retrieve", stage.inputs[0].hash) / "run.trec")
        groups = mine_hard_negatives(run, dataset, cfg["split"], depth=cfg["mine_depth"],
                                     n=cfg["hard_negatives"], seed=cfg["seed"])
    else:
        groups = groups_from_qrels(dataset, cfg["split"],
                                   negatives="random" if cfg["random_negatives"] else "none",
                                   n_negatives=cfg["random_negatives"], seed=cfg["seed"])
    write_groups(groups, out / "groups.jsonl")


def _to_stderr(line: str) -> None:
    import sys

    sys.stderr.write(line)
    sys.stderr.flush()


def produce_train(ctx: RunContext, stage: Stage, out: Path) -> None:
    """Train into `out` (resumable: checkpoints left by a killed attempt are picked up)."""
    from rqbench.training.config import TrainConfig
    from rqbench.training.distributed import launch
    from rqbench.training.trainer import train_dual_encoder

    groups = ctx.store.path("groups", stage.inputs[0].hash) / "groups.jsonl"
    settings = {**stage.config["trainer"], **stage.runtime}
    nproc = stage.config["nproc"]
    if nproc == 1:
        train_dual_encoder(groups, TrainConfig(**settings), out)
        return
    config_path = out / "train_config.json"
    config_path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    # the ranks' output goes to stderr: stdout may be carrying `--json` records
    code = launch(nproc, "rqbench.training", ["--groups", str(groups), "--config", str(config_path),
                                               "--out", str(out)], echo=_to_stderr)
    if code != 0:
        raise RqbenchError(f"training with {nproc} processes failed (exit {code}); see the log above")
