"""`rqbench plan`: a planned graph as rows (JSON) or a terminal table — what exists, what will be built."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rqbench.artifacts import ArtifactStore
from rqbench.cli.options import show_table
from rqbench.data.pending import is_pending
from rqbench.models.rocketqa_catalog import is_official, official_model
from rqbench.models.rocketqa_import import converted_folder
from rqbench.plan import Plan


def plan_rows(plan: Plan, store: ArtifactStore) -> list[dict[str, Any]]:
    """One row per node in dependency order: kind, label, hash, inputs, cached or to build, who uses it."""
    used_by: dict[str, list[str]] = {}
    for planned in plan.evaluations:
        for _, node in planned.steps:
            used_by.setdefault(node.hash, []).append(f"{planned.variant.name}@{planned.evaluation.name}")
    pending = _pending_nodes(plan)
    return [{"step": i, "kind": node.kind.name, "label": node.label, "hash": node.hash,
             "inputs": {role: e.node.hash for role, e in node.inputs.items()},
             "cached": store.exists(node.kind.name, node.hash), "used_by": used_by.get(node.hash, []),
             **({"pending": True} if node.hash in pending else {})}
            for i, node in enumerate(plan.nodes.values(), start=1)]


def _pending_nodes(plan: Plan) -> set[str]:
    """Nodes whose hash is provisional: they read a dataset that is not here, or an input that does."""
    pending: set[str] = set()
    for node in plan.nodes.values():  # dependency order: inputs first
        if is_pending(node.dataset) or any(e.node.hash in pending for e in node.inputs.values()):
            pending.add(node.hash)
    return pending


def plan_notes(plan: Plan) -> list[str]:
    """What this machine lacks to run the plan: datasets not here (with the reason) and official RocketQA models
    not converted yet (each is converted, downloading it if need be, when a stage first loads it)."""
    notes = [f"dataset '{d.source}' is not here: {d.reason}; hashes marked pending are provisional"
             for d in plan.datasets.values() if is_pending(d)]
    official = sorted({str(getattr(e.backend.params, "model", "")) for e in plan.evaluations
                       if is_official(str(getattr(e.backend.params, "model", "")))})
    for name in official:
        if not converted_folder(official_model(name)).is_dir():
            notes.append(f"{name}: not converted here; the first stage that loads it downloads and converts it "
                         f"(offline: rqbench models import {name} --from FILE)")
    return notes


def render_plan(plan: Plan, rows: list[dict[str, Any]], console: Console) -> None:
    step_of = {row["hash"]: row["step"] for row in rows}
    table = Table(title=f"plan of suite {plan.suite.name}: {len(rows)} stages, "
                        f"{sum(not r['cached'] for r in rows)} to build", box=None, pad_edge=False)
    for col in ("#", "kind", "for", "hash", "inputs", "state"):
        table.add_column(col, no_wrap=col not in ("for", "inputs"))  # these two wrap at spaces, never in a word
    for row in rows:
        inputs = ", ".join(f"{role}=#{step_of[h]}" for role, h in row["inputs"].items()) or "-"
        state = "[dim]cached[/]" if row["cached"] else "[red]pending[/]" if row.get("pending") else "[yellow]build[/]"
        table.add_row(str(row["step"]), row["kind"], escape(row["label"]), row["hash"][:12], inputs, state)
    show_table(console, table)
    shared = [r for r in rows if len(r["used_by"]) > 1]
    if shared:
        console.print(f"{len(shared)} stage(s) shared by several variants or evaluation sets; each is built once.")
    for note in plan_notes(plan):
        console.print(f"note: {escape(note)}")
