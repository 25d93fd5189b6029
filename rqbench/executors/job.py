"""One stage as a job: what a worker needs to build it (`StageJob`, names only) and the worker's side
(`run_stage_job`): plan the suite again, find the node by its hash, build it into the shared store."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# stage kinds that run a neural model when their backend has one: they get the GPUs a run asks for
MODEL_STAGES = frozenset({"train", "index", "retrieve", "score", "judge", "encode"})
ENV_KEYS = ("RQBENCH_DATA", "RQBENCH_STORE", "RQBENCH_MODELS", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass(frozen=True)
class StageJob:
    """Everything a worker needs, by name: the suite file, the data root, the store, the stage's hash, the
    variants the run was restricted to, and the environment variables rqbench and its models read."""

    suite: str
    data_root: str | None
    store: str
    node: str
    kind: str
    only: tuple[str, ...] | None = None
    overwrite: bool = False
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, suite: Path, data_root: Path | None, store: Path, node_hash: str, kind: str,
           only: list[str] | None, overwrite: bool = False) -> StageJob:
        env = tuple((k, os.environ[k]) for k in ENV_KEYS if k in os.environ)
        return cls(str(Path(suite).resolve()), str(Path(data_root).resolve()) if data_root else None,
                   str(Path(store).resolve()), node_hash, kind, tuple(only) if only else None, overwrite, env)


def resources_of(kind: str, gpus: int) -> dict[str, int]:
    """{"gpus": n, "cpus": n} for a stage kind: the run's GPUs for a stage that runs a model, else none."""
    return {"gpus": gpus if kind in MODEL_STAGES else 0, "cpus": 1}


_PLANS: dict[tuple, Any] = {}  # a worker process that builds several stages (Ray) plans each suite once
_PLANS_LOCK = threading.Lock()


def _plan(job: StageJob) -> Any:
    from rqbench.plan import plan_suite
    from rqbench.suite import load_suite

    key = (job.suite, job.data_root, job.only)
    with _PLANS_LOCK:
        if key not in _PLANS:
            _PLANS[key] = plan_suite(load_suite(Path(job.suite)), Path(job.data_root) if job.data_root else None,
                                     list(job.only) if job.only else None)
        return _PLANS[key]


def run_stage_job(job: StageJob) -> dict[str, Any]:
    """Build (or find) the job's stage in the store: {"path", "built", "seconds"}; a user mistake or an
    environment fault comes back as {"error": its line, "exit_code": n} (executors wrap raised exceptions in
    their own types and text), re-raised on the submitting side by `raise_returned`."""
    from rqbench.errors import RqbenchError

    try:
        return _run(job)
    except RqbenchError as exc:
        return {"error": exc.one_line(), "exit_code": exc.exit_code}


def raise_returned(result: dict[str, Any]) -> dict[str, Any]:
    """`result`, or the error a worker returned, raised here as the same kind of error."""
    from rqbench.errors import EnvironmentFault, RqbenchError

    if "error" not in result:
        return result
    raise (EnvironmentFault if result.get("exit_code") == 3 else RqbenchError)(result["error"])


def _run(job: StageJob) -> dict[str, Any]:
    import time

    from rich.console import Console

    from rqbench.artifacts import ArtifactStore
    from rqbench.errors import RqbenchError
    from rqbench.execute import Services, build_node

    for key, value in job.env:
        os.environ.setdefault(key, value)
    started = time.perf_counter()
    plan = _plan(job)
    node = plan.nodes.get(job.node)
    if node is None:
        raise RqbenchError(f"stage {job.node[:12]} is not in the plan of {job.suite} here: the worker sees other "
                           "data or another rqbench version than the run")
    store = ArtifactStore(Path(job.store))
    result = build_node(node, store, Console(stderr=True, quiet=True), Services(store), overwrite=job.overwrite,
                        live=False)
    return {"path": str(result.path), "built": not result.cached, "seconds": time.perf_counter() - started}
