"""Runs a suite: plan the whole graph, execute it, and write one record per (variant, evaluation set).

Records are built from the graph: each lists every node its result depends on (role, kind, hash, its
inputs' hashes, cached or built, seconds), and names its system by variant name plus the hash of the
run artifact it evaluated, so a leaderboard can tell two different systems that share a name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from rqbench import records as rec
from rqbench.artifacts import ArtifactStore, stable_hash
from rqbench.backend import params_dict
from rqbench.env import environment
from rqbench.execute import NodeResult, execute
from rqbench.io import atomic_write_text, portable_path
from rqbench.plan import Plan, PlannedEvaluation, plan_suite
from rqbench.stages import Node
from rqbench.stages.retrieve import TIMING_FILE
from rqbench.store.live import hold
from rqbench.suite import Suite
from rqbench.training.config import LOG_FILE as TRAIN_LOG


def run_suite(suite: Suite, *, store: ArtifactStore, results_root: Path, data_root: Path | None,
              console: Console, overwrite: bool = False, only: Sequence[str] | None = None,
              jobs: int = 1, executor: Any = None) -> list[dict[str, Any]]:
    """Run (or reuse) every variant of `suite`; append one record per (variant, evaluation set); return them.
    `executor` (`rqbench.executors.make_executor`): where the stages are built (default: here, in threads)."""
    plan = plan_suite(suite, data_root, list(only) if only else None)
    for dataset in plan.datasets.values():
        for warning in dataset.warnings:
            console.print(f"[yellow]warning:[/] {escape(warning)}")
    with hold(store.root, plan.nodes):  # `store gc` keeps what this run builds and reads until it has recorded it
        job_of = None
        if executor is not None:
            from rqbench.executors import StageJob

            def job_of(node: Any) -> StageJob:
                return StageJob.of(suite.path, data_root, store.root, node.hash, node.kind.name,
                                   list(only) if only else None, overwrite)
        results = execute(plan, store, console, overwrite=overwrite, jobs=jobs, executor=executor, job_of=job_of)
        attributed: set[str] = set()  # a node built now counts as built for the first record using it only
        return [write_record(plan, planned, results, Path(results_root), attributed)
                for planned in plan.evaluations]


def run_file_name(plan: Plan, planned: PlannedEvaluation) -> str:
    """Where the variant's run is copied, relative to the suite's results folder (one per evaluation set)."""
    name = rec._safe(planned.variant.name)
    if len(plan.suite.evaluations) > 1:
        name += f"@{rec._safe(planned.evaluation.name)}"
    return f"runs/{name}.trec"


def write_record(plan: Plan, planned: PlannedEvaluation, results: dict[str, NodeResult], results_root: Path,
                 attributed: set[str]) -> dict[str, Any]:
    """Append the record of one (variant, evaluation set). A node shared with a record written earlier in
    this invocation is listed as cached with 0 s (its time is counted once, where it was built)."""
    suite, variant, ev, dataset = plan.suite, planned.variant, planned.evaluation, planned.dataset
    evaluation, run = planned.evaluate, planned.run
    metrics = json.loads((results[evaluation.hash].path / "metrics.json").read_text(encoding="utf-8"))
    sidecar = rec.write_per_query(results_root, suite.name, variant.name, evaluation.hash, metrics["per_query"])
    run_rel = run_file_name(plan, planned)
    seed = variant.seed if variant.seed is not None else suite.seed
    run_text = (results[run.hash].path / "run.trec").read_text(encoding="utf-8")
    atomic_write_text(rec.suite_dir(results_root, suite.name) / run_rel,
                      run_text.replace(f" rqbench-{run.hash[:8]}\n", f" {_tag(variant.name)}\n"))
    labels_rel = _copy_pseudo_labels(plan, planned, results, results_root)
    stages = []
    for role, node in planned.steps:
        r = results[node.hash]
        shared = node.hash in attributed
        attributed.add(node.hash)
        stages.append({"role": role, "kind": node.kind.name, "hash": node.hash, "label": node.label,
                       "inputs": {k: e.node.hash for k, e in node.inputs.items()}, "cached": r.cached or shared,
                       "seconds": 0.0 if shared else round(r.seconds, 3), "built_seconds": r.built_seconds,
                       "bytes": _artifact_bytes(r.path), **_search_seconds(node.kind.name, r.path),
                       **_training_figures(node, r.path)})
    own = {role: node.hash for role, node in planned.steps if ":" not in role}
    record = {
        "schema": rec.SCHEMA, "record_id": rec.new_record_id(), "created": rec.now_iso(),
        "suite": suite.name, "suite_file": str(suite.path), "suite_hash": stable_hash(suite.text),
        "suite_notes": suite.notes, "suite_contrasts": [c.to_dict() for c in suite.contrasts],
        "variant": variant.name, "backend": variant.backend,
        "system": {"name": variant.name, "run": run.hash,
                   **({"description": variant.description} if variant.description else {}),
                   **({"about": variant.about} if variant.about else {})},
        "evaluation": {"name": ev.name, "dataset": dataset.name, "split": ev.split},
        "config": {"params": _params(planned, own), "depth": variant.depth, "split": ev.split,
                   "measures": list(ev.measures),  # the evaluation's order, which a report keeps
                   "exclude_query_id": ev.exclude_query_id, "baseline": suite.baseline,
                   "describe": _describe(planned), "train": variant.train,
                   **({"model_from": variant.model_from} if variant.model_from else {})},
        "dataset": {"name": dataset.name, "source": portable_path(dataset.source), "split": ev.split,
                    "n_docs": len(dataset.corpus), "n_queries": len(dataset.split_queries(ev.split)),
                    "fingerprints": {"corpus": dataset.fingerprint("corpus"),
                                     "queries": dataset.fingerprint(f"queries/{ev.split}"),
                                     "qrels": dataset.fingerprint(f"qrels/{ev.split}")}},
        "measures": metrics["definitions"], "metrics": metrics["aggregate"], "curves": metrics["curves"],
        "n_queries": metrics["n_queries"], "per_query_file": sidecar, "run_file": run_rel,
        **({"pseudo_labels_file": labels_rel} if labels_rel else {}),
        "stages": stages, "artifact_hashes": {**own, "run": run.hash}, "audits": _audits(planned, results),
        "seed": seed, "env": environment(seed, _java_info(variant.backend)),
    }
    if variant.arm:
        record["arm"] = variant.arm
    path = rec.append_record(results_root, record)
    return {**record, "_path": str(path)}  # as read_records gives it: sidecars resolve next to the file


def _artifact_bytes(folder: Path) -> int | None:
    """The artifact's size on disk from its manifest (what `rqbench leaderboard --cost` shows for an index)."""
    try:
        files = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("files") or {}
        return int(sum(int(entry.get("size", 0)) for entry in files.values()))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _search_seconds(kind: str, folder: Path) -> dict[str, float]:
    """A retrieve stage's search time without opening the index (its timing file; older artifacts lack it)."""
    if kind != "retrieve":
        return {}
    try:
        return {"search_seconds": float(json.loads((folder / TIMING_FILE).read_text(encoding="utf-8"))
                                        ["search_seconds"])}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def _training_figures(node: Node, folder: Path) -> dict[str, Any]:
    """A train stage's shape and cost: task, steps, examples per step, candidates per query (RocketQAv2's list
    length K), and what its log's last line gives (older artifacts lack it): the peak memory, whether the peak
    was reset at the start, and the last attempt's first step and seconds (a resumed run's)."""
    if node.kind.name != "train":
        return {}
    trainer = node.params.trainer
    out: dict[str, Any] = {"task": node.params.task, "nproc": node.params.nproc,
                           "batch_size": trainer.get("batch_size"),
                           "grad_accumulation": trainer.get("grad_accumulation", 1),
                           "candidates": 1 + int(trainer.get("hard_negatives_per_query") or 0)}
    try:
        lines = (folder / TRAIN_LOG).read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        last = {}
    for key in ("step", "peak_rss_mib", "start_rss_mib", "peak_reset", "cuda_peak_mib", "cuda_reserved_mib",
                "attempt_first_step", "elapsed_s"):
        if isinstance(last.get(key), int | float | bool):
            out["steps" if key == "step" else key] = last[key]
    return {"training": out}


def _copy_pseudo_labels(plan: Plan, planned: PlannedEvaluation, results: dict[str, NodeResult],
                        results_root: Path) -> str | None:
    """The variant's own augmentation labels copied beside its run (pseudo_labels/<variant>.tsv), so that
    anyone holding labels for those queries can check them without the store; None without augmentation."""
    node = dict(planned.steps).get("augment")
    if node is None:
        return None
    source = results[node.hash].path / "pseudo_labels.tsv"
    rel = f"pseudo_labels/{rec._safe(planned.variant.name)}.tsv"
    atomic_write_text(rec.suite_dir(results_root, plan.suite.name) / rel, source.read_text(encoding="utf-8"))
    return rel


def _audits(planned: PlannedEvaluation, results: dict[str, NodeResult]) -> dict[str, Any]:
    """The audits (denoise, augment) of the variant's own steps, without their per-query detail and samples
    (those stay in the artifact's audit.json)."""
    out: dict[str, Any] = {}
    for role, node in planned.steps:
        path = results[node.hash].path / "audit.json"
        if ":" not in role and path.exists():
            audit = json.loads(path.read_text(encoding="utf-8"))
            out[role] = {k: v for k, v in audit.items() if k not in ("per_query", "dropped_sample")}
            if isinstance(out[role].get("teachers"), dict):  # a negatives audit: each teacher's per-query too
                out[role]["teachers"] = {name: {k: v for k, v in t.items() if k != "per_query"}
                                         for name, t in out[role]["teachers"].items()}
    return out


def _params(planned: PlannedEvaluation, own: dict[str, str]) -> dict[str, Any]:
    params = params_dict(planned.backend.params)
    if isinstance(params.get("path"), str):  # an imported run file: named relative to the checkout
        params["path"] = portable_path(params["path"])
    edge = _model_edge(planned)
    if edge is not None and "model" in params:  # a trained model is named by its artifact and folder, not a path
        params["model"] = f"artifact:train/{edge.node.hash}/{edge.part or 'model'}"
    return params


def _model_edge(planned: PlannedEvaluation) -> Any:
    """The trained checkpoint the variant's own index or score stage read (its own training's, or a joint
    run's retriever/ or reranker/, or another variant's with model_from); None for an untrained model."""
    for role, node in planned.steps:
        if role in ("index", "score") and "model" in node.inputs:
            return node.inputs["model"]
    return None


def _describe(planned: PlannedEvaluation) -> dict[str, Any]:
    """What the backend described; for a trained model, the checkpoint artifact instead of the base model."""
    steps = dict(planned.steps)
    if "index" not in steps:
        return planned.backend.describe()
    described = dict(steps["index"].params.describe)
    edge = _model_edge(planned)
    if edge is not None:
        described["model"] = {"artifact": f"{edge.node.kind.name}/{edge.node.hash}/{edge.part}",
                              "trained_from": described.get("model")}
    return described


def _tag(name: str) -> str:
    return "".join(c if not c.isspace() else "_" for c in name)


def _java_info(backend: str) -> dict[str, Any] | None:
    if backend != "bm25":
        return None
    try:
        from rqbench.javaenv import java_info

        info = java_info()
        return {**info, "java_home": portable_path(info.get("java_home"))}
    except Exception:  # recording must never fail a finished run
        return None
