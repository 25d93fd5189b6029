"""Runs a planned graph in dependency order: each node built once (or found in the store), timed.

A node is built only after all its inputs exist; with `jobs > 1` independent nodes are built
concurrently (threads: the heavy work runs in native code, the JVM or torchrun processes). A failure
stops new work; nodes already running finish (their artifacts stay valid) and the error is raised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
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


def execute(plan: Plan, store: ArtifactStore, console: Console, *, overwrite: bool = False,
            jobs: int = 1) -> dict[str, NodeResult]:
    """Build (or reuse) every node of `plan`; returns {node hash: result}."""
    services = Services(store)
    results: dict[str, NodeResult] = {}
    pending = dict(plan.nodes)
    if jobs <= 1:
        for node in plan.nodes.values():
            results[node.hash] = _build(node, store, console, services, overwrite, live=True)
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
                    running[pool.submit(_build, node, store, console, services, overwrite, False)] = node
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


def _build(node: Node, store: ArtifactStore, console: Console, services: Services, overwrite: bool,
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

