"""Runs a planned graph in dependency order: each node built once (or found in the store), timed.

A node is built only after all its inputs exist; with `jobs > 1` independent nodes are built
concurrently (threads: the heavy work runs in native code, the JVM or torchrun processes). A failure
stops new work; nodes already running finish (their artifacts stay valid) and the error is raised. With an
executor from `rqbench.executors` (submitit for Slurm, Ray) each node is a job a worker builds into the
shared store; the threads here only wait for them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from rqbench.artifacts import ArtifactStore, stable_hash
from rqbench.plan import Plan
from rqbench.stages import BuildContext, Node


@dataclass
class NodeResult:
    path: Path
    cached: bool
    seconds: float
    built_seconds: float | None


@dataclass
class Services:
    """Shared by the nodes of one execution: backend instances (a model is loaded once), the store."""

    store: ArtifactStore
    _backends: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def backend(self, ctx: BuildContext) -> Any:
        """The backend a node's runtime spec names; a `model` edge replaces params.model by its checkpoint."""
        from rqbench.backend import build_params, load_backend_class

        spec = ctx.node.runtime["backend"]
        params = dict(spec["params"])
        edge = ctx.node.runtime.get("model")
        if edge is not None:
            path = self.store.path(edge.node.kind.name, edge.node.hash)
            params["model"] = str(path / edge.part if edge.part else path)
        key = stable_hash([spec["name"], params])
        with self._lock:
            if key not in self._backends:
                cls = load_backend_class(spec["name"], spec["where"])
                self._backends[key] = cls(build_params(cls.Params, params, spec["where"]))
            return self._backends[key]


JobOf = Callable[[Node], Any]  # a node -> the `rqbench.executors.StageJob` that builds it elsewhere


def execute(plan: Plan, store: ArtifactStore, console: Console, *, overwrite: bool = False,
            jobs: int = 1, executor: Any = None, job_of: JobOf | None = None) -> dict[str, NodeResult]:
    """Build (or reuse) every node of `plan`; returns {node hash: result}. With an `executor`
    (`rqbench.executors`), each node is a job (`job_of(node)`) built by a worker; up to `jobs` at once."""
    services = Services(store)
    results: dict[str, NodeResult] = {}
    pending = dict(plan.nodes)

    def build(node: Node, live: bool) -> NodeResult:
        if executor is None:
            return build_node(node, store, console, services, overwrite, live)
        assert job_of is not None
        return _build_remote(node, store, console, executor, job_of, overwrite)

    if jobs <= 1:
        for node in plan.nodes.values():
            results[node.hash] = build(node, True)
        return results
    running: dict[Future[NodeResult], Node] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        failure: BaseException | None = None
        while pending or running:
            if failure is None:
                ready = [n for n in pending.values()
                         if all(e.node.hash in results for e in n.inputs.values())]
                for node in ready[:max(0, jobs - len(running))]:
                    del pending[node.hash]
                    running[pool.submit(build, node, False)] = node
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                node = running.pop(future)
                try:
                    results[node.hash] = future.result()
                except BaseException as exc:
                    failure = failure or exc
        if failure is not None:
            raise failure
    return results


def _build_remote(node: Node, store: ArtifactStore, console: Console, executor: Any, job_of: JobOf,
                  overwrite: bool) -> NodeResult:
    """One node built by a worker of `executor` into the shared store (an intact artifact is reused here)."""
    started = time.perf_counter()
    label = f"{node.kind.name:<8} {escape(node.label)}"
    built = False
    if overwrite or not store.exists(node.kind.name, node.hash):
        built = bool(executor.run(job_of(node), node.label)["built"])
    if not store.exists(node.kind.name, node.hash):
        from rqbench.errors import EnvironmentFault

        raise EnvironmentFault(f"stage {node.kind.name} {node.label} reported done, but its artifact is not in the "
                               "store here: do the workers share this store's filesystem?", store.root)
    seconds = time.perf_counter() - started
    built_seconds = store.manifest(node.kind.name, node.hash).get("built_seconds")
    state = "[green]built[/]" if built else "[dim]cached[/]"
    console.print(f"  {label} {state} {seconds:7.2f}s  [dim]{node.hash[:12]} ({executor.name})[/]")
    return NodeResult(store.path(node.kind.name, node.hash), not built, seconds, built_seconds)


def build_node(node: Node, store: ArtifactStore, console: Console, services: Services, overwrite: bool,
               live: bool) -> NodeResult:
    """Build one node. `live`: spinner and progress bars (one live display at a time: not in parallel)."""
    started = time.perf_counter()
    label = f"{node.kind.name:<8} {escape(node.label)}"  # grid names like bm25[b=0.3] are not markup
    manifest = {"kind": node.kind.name, "version": node.kind.version, "label": node.label,
                "params": dataclasses.asdict(node.params),
                "inputs": {role: {"kind": e.node.kind.name, "hash": e.node.hash, "part": e.part}
                           for role, e in node.inputs.items()}}

    quiet = Console(stderr=True, quiet=True)

    def produce(out: Path) -> None:
        node.kind.produce(BuildContext(node, out, store, console if live else quiet, services))

    with console.status(f"{label} ...", spinner="dots") if live else contextlib.nullcontext():
        path, built = store.build(node.kind.name, node.hash, manifest, produce, overwrite=overwrite,
                                  resumable=node.resumable or node.kind.resumable)
    seconds = time.perf_counter() - started
    built_seconds = store.manifest(node.kind.name, node.hash).get("built_seconds")
    state = "[green]built[/]" if built else "[dim]cached[/]"
    console.print(f"  {label} {state} {seconds:7.2f}s  [dim]{node.hash[:12]}[/]")
    return NodeResult(path, not built, seconds, built_seconds)

