"""Executes a suite: each variant becomes a chain of stages (index -> retrieve -> evaluate); each stage's
output is an artifact keyed by its config and inputs, so finished work is reused (also across variants
that share a prefix), a killed run resumes at the first missing artifact, and `overwrite` recomputes.
Every stage is timed; evaluation results become records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rqbench import records as rec
from rqbench.artifacts import ArtifactStore, stable_hash
from rqbench.backend import build_params, load_backend_class, split_params
from rqbench.data import load_dataset
from rqbench.data.dataset import Dataset
from rqbench.env import environment
from rqbench.errors import RqbenchError
from rqbench.io import atomic_write_json, atomic_write_text
from rqbench.measures import curves, evaluate, parse_measures
from rqbench.suite import Suite, Variant
from rqbench.types import Query, Run, ScoredDoc, normalize_run, read_trec_run, write_trec_run

# Bump a stage's version when its code changes what it produces: old artifacts stop matching.
STAGE_VERSIONS = {"index": 1, "retrieve": 2, "evaluate": 2, "groups": 1, "train": 1}
SEARCH_CHUNK = 1000  # queries per search call: the unit of progress, not of results


@dataclass(frozen=True)
class Stage:
    kind: str
    config: dict[str, Any]
    inputs: tuple[Stage, ...] = ()
    # the dataset the stage reads (not hashed: its content fingerprints are in `config`)
    dataset: Dataset | None = field(default=None, compare=False, repr=False)
    # settings that change speed or bookkeeping, never results (device, threads, ...): not hashed
    runtime: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def hash(self) -> str:
        return stable_hash({"kind": self.kind, "version": STAGE_VERSIONS[self.kind], "config": self.config,
                            "inputs": [s.hash for s in self.inputs]})


@dataclass
class StageResult:
    path: Path
    cached: bool
    seconds: float
    built_seconds: float | None


@dataclass
class RunContext:
    suite: Suite
    dataset: Dataset
    store: ArtifactStore
    results_root: Path
    console: Console
    measures: list[Any]
    places: dict[str, str]
    overwrite: bool = False
    done: dict[str, StageResult] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=dict)
    data_root: Path | None = None
    other_datasets: dict[str, Dataset] = field(default_factory=dict)

    def dataset_named(self, spec: str | None) -> Dataset:
        """The suite's dataset, or another one (e.g. training data for a zero-shot evaluation)."""
        if spec is None:
            return self.dataset
        if spec not in self.other_datasets:
            self.other_datasets[spec] = load_dataset(spec, self.data_root, where=str(self.suite.path))
        return self.other_datasets[spec]


@dataclass
class VariantRun:
    """The stages one variant ran, by role ("index", "mine:retrieve", "train", ...), in order."""

    variant: Variant
    backend: Any = None
    roles: list[str] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    results: list[StageResult] = field(default_factory=list)

    def get(self, role: str) -> tuple[Stage, StageResult]:
        i = self.roles.index(role)
        return self.stages[i], self.results[i]


def index_stage(variant_backend: str, backend: Any, dataset: Dataset, inputs: tuple[Stage, ...] = ()) -> Stage:
    index_params, _ = split_params(backend.params)
    for stage in inputs:  # a trained model is named by its artifact, not by a machine-specific path
        if stage.kind == "train" and "model" in index_params:
            index_params["model"] = f"artifact:train/{stage.hash}"
    return Stage("index", {"backend": variant_backend, "describe": backend.describe(), "params": index_params,
                           "corpus": dataset.fingerprint("corpus")}, inputs, dataset)


def retrieve_stage(backend: Any, dataset: Dataset, index: Stage, split: str, depth: int,
                   exclude_query_id: bool) -> Stage:
    _, search_params = split_params(backend.params)
    return Stage("retrieve", {"params": search_params, "depth": depth, "split": split,
                              "queries": dataset.fingerprint(f"queries/{split}"),
                              "exclude_query_id": exclude_query_id}, (index,), dataset)


def evaluate_stage(dataset: Dataset, split: str, measures: Sequence[Any], retrieve: Stage) -> Stage:
    return Stage("evaluate", {"qrels": dataset.fingerprint(f"qrels/{split}"), "split": split,
                              "measures": [str(m) for m in measures]}, (retrieve,), dataset)


def run_suite(suite: Suite, *, store: ArtifactStore, results_root: Path, data_root: Path | None,
              console: Console, overwrite: bool = False, only: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run (or reuse) every variant of `suite`; append one record per variant; return the records."""
    dataset = load_dataset(_dataset_spec(suite), data_root, where=str(suite.path))
    for warning in dataset.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    measures = parse_measures(suite.measures, where=str(suite.path))
    places = {"data_root": str(data_root or ""), "suite_dir": str(suite.path.parent.resolve())}
    ctx = RunContext(suite, dataset, store, Path(results_root), console, measures, places, overwrite,
                     data_root=data_root)
    variants = [suite.variant(n) for n in only] if only else suite.variants
    needed = {v.name for v in variants} | {v.train["mine_from"] for v in variants
                                           if v.train and v.train.get("mine_from")}
    # every backend is built (and its params validated) before any work starts
    ctx.backends = {v.name: _make_backend(v, suite, places) for v in suite.variants if v.name in needed}
    for v in variants:
        if v.train is not None:
            from rqbench.train_stage import validate_train_table

            validate_train_table(v, suite, ctx.backends[v.name])
    return [_record(ctx, _run_variant(ctx, variant)) for variant in variants]


def _run_variant(ctx: RunContext, variant: Variant) -> VariantRun:
    suite, dataset = ctx.suite, ctx.dataset
    vr = VariantRun(variant, ctx.backends[variant.name])
    index_inputs: tuple[Stage, ...] = ()
    if variant.train is not None:
        from rqbench.train_stage import plan_training

        train = plan_training(ctx, variant, vr)
        index_inputs = (train,)
        checkpoint = vr.get("train")[1].path / "model"
        vr.backend = _make_backend(variant, suite, ctx.places, {"model": str(checkpoint)})
    index = _run(ctx, vr, "index", index_stage(variant.backend, vr.backend, dataset, index_inputs),
                 resumable=getattr(vr.backend, "RESUMABLE_INDEX", False))
    retrieve = _run(ctx, vr, "retrieve", retrieve_stage(vr.backend, dataset, index, suite.split, variant.depth,
                                                        suite.exclude_query_id))
    _run(ctx, vr, "evaluate", evaluate_stage(dataset, suite.split, ctx.measures, retrieve))
    return vr


def _run(ctx: RunContext, vr: VariantRun, role: str, stage: Stage, backend: Any = None,
         resumable: bool = False) -> Stage:
    """Execute (or reuse) `stage` for `vr` under `role`; returns the stage for chaining."""
    result = _execute(ctx, stage, vr.variant, backend if backend is not None else vr.backend, role, resumable)
    vr.roles.append(role)
    vr.stages.append(stage)
    vr.results.append(result)
    return stage


def _fill(value: Any, places: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in places.items():
            value = value.replace("{" + key + "}", text)
    return value


def _dataset_spec(suite: Suite) -> str | dict[str, Any]:
    """Paths in a suite are relative to the suite file; short names go to the data root."""
    base = suite.path.parent
    if isinstance(suite.dataset, dict):
        return dict(suite.dataset)  # load_dataset resolves a table's path against the suite folder
    candidate = base / suite.dataset
    return str(candidate) if ("/" in suite.dataset or suite.dataset.startswith(".")) and candidate.exists() \
        else suite.dataset


def _make_backend(variant: Variant, suite: Suite, places: dict[str, str],
                  override: dict[str, Any] | None = None) -> Any:
    """Instantiate the variant's backend; `{data_root}` / `{suite_dir}` in string params are filled in."""
    where = f"{suite.path}:{variant.line}" if variant.line else str(suite.path)
    cls = load_backend_class(variant.backend, where)
    params = {k: _fill(v, places) for k, v in {**variant.params, **(override or {})}.items()}
    try:
        return cls(build_params(cls.Params, params, where))
    except RqbenchError as exc:
        if exc.path is None:
            raise RqbenchError(exc.problem, where) from None
        raise


def _execute(ctx: RunContext, stage: Stage, variant: Variant, backend: Any, role: str,
             resumable: bool = False) -> StageResult:
    if stage.hash in ctx.done:  # shared with a variant run earlier in this invocation
        prior = ctx.done[stage.hash]
        return StageResult(prior.path, True, 0.0, prior.built_seconds)
    producers: dict[str, Callable[[Path], None]] = {
        "index": lambda out: _produce_index(stage.dataset or ctx.dataset, backend, out),
        "retrieve": lambda out: _produce_run(ctx, stage, variant, backend, out),
        "evaluate": lambda out: _produce_metrics(ctx, stage, out),
    }
    if stage.kind in ("groups", "train"):
        from rqbench.train_stage import produce_groups, produce_train

        producers["groups"] = lambda out: produce_groups(ctx, stage, out)
        producers["train"] = lambda out: produce_train(ctx, stage, out)
    started = time.perf_counter()
    label = f"{role:<8} {escape(variant.name)}"  # grid names like bm25[b=0.3] are not markup
    manifest = {"config": stage.config, "inputs": {s.kind: s.hash for s in stage.inputs},
                "suite": ctx.suite.name, "variant": variant.name, "role": role}
    with ctx.console.status(f"{label} ...", spinner="dots"):
        path, built = ctx.store.build(stage.kind, stage.hash, manifest, producers[stage.kind],
                                      overwrite=ctx.overwrite, resumable=resumable)
    seconds = time.perf_counter() - started
    built_seconds = ctx.store.manifest(stage.kind, stage.hash).get("built_seconds")
    state = "[green]built[/]" if built else "[dim]cached[/]"
    ctx.console.print(f"  {label} {state} {seconds:7.2f}s  [dim]{stage.hash[:12]}[/]")
    result = StageResult(path, not built, seconds, built_seconds)
    ctx.done[stage.hash] = result
    return result


def _produce_index(dataset: Dataset, backend: Any, out: Path) -> None:
    backend.index(list(dataset.corpus.values()), out)


def _produce_run(ctx: RunContext, stage: Stage, variant: Variant, backend: Any, out: Path) -> None:
    index_dir = ctx.store.path("index", stage.inputs[0].hash)
    queries: list[Query] = (stage.dataset or ctx.dataset).split_queries(stage.config["split"])
    depth = stage.config["depth"]
    exclude = stage.config["exclude_query_id"]
    run: Run = {}
    with Progress(TextColumn("  retrieve {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=ctx.console, transient=True) as progress:
        task = progress.add_task(variant.name, total=len(queries))
        for start in range(0, len(queries), SEARCH_CHUNK):
            chunk = queries[start:start + SEARCH_CHUNK]
            found = backend.search(index_dir, chunk, depth + 1 if exclude else depth)
            for q in chunk:
                hits: list[ScoredDoc] = found.get(q.id, [])
                if exclude:
                    hits = [h for h in hits if h.docid != q.id]
                run[q.id] = hits[:depth]
            progress.advance(task, len(chunk))
    write_trec_run(normalize_run(run, depth), out / "run.trec", tag=f"rqbench-{stage.hash[:8]}")


def _produce_metrics(ctx: RunContext, stage: Stage, out: Path) -> None:
    run = read_trec_run(ctx.store.path("retrieve", stage.inputs[0].hash) / "run.trec")
    qrels = (stage.dataset or ctx.dataset).split_qrels(stage.config["split"])
    measures = parse_measures(stage.config["measures"])
    result = evaluate(run, qrels, measures)
    depth = max((len(v) for v in run.values()), default=1)
    atomic_write_json(out / "metrics.json", {
        "aggregate": result.aggregate, "per_query": result.per_query, "definitions": result.definitions,
        "n_queries": result.n_queries, "curves": curves(run, qrels, depth),
    })


def _record(ctx: RunContext, vr: VariantRun) -> dict[str, Any]:
    variant, suite, dataset = vr.variant, ctx.suite, ctx.dataset
    index, _ = vr.get("index")
    retrieve, retrieve_result = vr.get("retrieve")
    evaluation, eval_result = vr.get("evaluate")
    metrics = json.loads((eval_result.path / "metrics.json").read_text(encoding="utf-8"))
    sidecar = rec.write_per_query(ctx.results_root, suite.name, variant.name, evaluation.hash, metrics["per_query"])
    run_rel = f"runs/{rec._safe(variant.name)}.trec"
    run_text = (retrieve_result.path / "run.trec").read_text(encoding="utf-8")
    atomic_write_text(rec.suite_dir(ctx.results_root, suite.name) / run_rel,
                      run_text.replace(f" rqbench-{retrieve.hash[:8]}\n", f" {_tag(variant.name)}\n"))
    record = {
        "schema": rec.SCHEMA, "record_id": rec.new_record_id(), "created": rec.now_iso(),
        "suite": suite.name, "suite_file": str(suite.path), "suite_hash": stable_hash(suite.text),
        "variant": variant.name, "backend": variant.backend,
        "config": {"params": _params(vr.backend), "depth": variant.depth, "split": suite.split,
                   "exclude_query_id": suite.exclude_query_id, "baseline": suite.baseline,
                   "describe": index.config["describe"], "train": variant.train},
        "dataset": {"name": dataset.name, "source": dataset.source, "split": suite.split,
                    "n_docs": len(dataset.corpus), "n_queries": len(dataset.split_queries(suite.split)),
                    "fingerprints": {"corpus": dataset.fingerprint("corpus"),
                                     "queries": dataset.fingerprint(f"queries/{suite.split}"),
                                     "qrels": dataset.fingerprint(f"qrels/{suite.split}")}},
        "measures": metrics["definitions"], "metrics": metrics["aggregate"], "curves": metrics["curves"],
        "n_queries": metrics["n_queries"], "per_query_file": sidecar, "run_file": run_rel,
        "stages": [{"kind": s.kind, "role": role, "hash": s.hash, "cached": r.cached, "seconds": round(r.seconds, 3),
                    "built_seconds": r.built_seconds}
                   for role, s, r in zip(vr.roles, vr.stages, vr.results, strict=True)],
        "artifact_hashes": {role: s.hash for role, s in zip(vr.roles, vr.stages, strict=True)},
        "seed": suite.seed, "env": environment(suite.seed, _java_info(variant.backend)),
    }
    rec.append_record(ctx.results_root, record)
    return record


def _params(backend: Any) -> dict[str, Any]:
    from rqbench.backend import params_dict

    return params_dict(backend.params)


def _tag(name: str) -> str:
    return "".join(c if not c.isspace() else "_" for c in name)


def _java_info(backend: str) -> dict[str, Any] | None:
    if backend != "bm25":
        return None
    try:
        from rqbench.javaenv import java_info

        return java_info()
    except Exception:  # recording must never fail a finished run
        return None
