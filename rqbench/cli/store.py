"""`rqbench store verify` and `rqbench store gc`: check the artifact store, and clean it (dry run first).

Registered in the main command with `app.add_typer(store_app, name="store")`; the logic lives in
`rqbench.store.maintenance`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rqbench.artifacts import ArtifactStore
from rqbench.errors import RqbenchError

if TYPE_CHECKING:
    from rqbench.store.maintenance import Candidate, GcPlan

store_app = typer.Typer(no_args_is_help=True, help="Verify and clean the artifact store.")

StoreDir = Annotated[Path | None, typer.Option("--store", help="Artifact store (default: $RQBENCH_STORE or "
                                               ".rqbench/store).")]


def _store(root: Path | None) -> ArtifactStore:
    store = ArtifactStore(root)
    if not store.root.is_dir():
        raise RqbenchError("no artifact store here", store.root)
    return store


@store_app.command()
def verify(
    store: StoreDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    """Check every file of every artifact against its recorded sha256.

    One line per damaged artifact; exit 1 if any is damaged (or was built before digests were recorded)."""
    from rqbench.store.maintenance import verify_store

    checked, findings = verify_store(_store(store))
    if json_out:
        print(json.dumps({"checked": checked, "damaged": [f.as_json() for f in findings]}, indent=2))
    else:
        for finding in findings:
            print(finding.line())
        print(f"{checked} artifact(s) checked, {len(findings)} damaged or unverifiable", file=sys.stderr)
    if findings:
        raise typer.Exit(1)


@store_app.command()
def gc(
    store: StoreDir = None,
    results: Annotated[list[Path] | None, typer.Option(
        "--results", help="Results folder(s) whose records keep artifacts: a results root or a suite's folder "
        "(default: results).")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove them (default: only list them).")] = False,
    grace: Annotated[str, typer.Option("--grace", help="Keep unreferenced artifacts built more recently than "
                                       "this (e.g. 0, 30m, 1h, 2d).")] = "1h",
) -> None:
    """List what can go: stale tmp folders, unreferenced artifacts, damaged copies (--delete removes them).

    An artifact is referenced when a record under the results folder(s) lists it among its stages (or it
    is an input of one that is). What a running `rqbench run` builds or uses is kept, and so is an
    unreferenced artifact younger than --grace."""
    from rqbench.store.live import gc_lock
    from rqbench.store.maintenance import gc_candidates, is_store, parse_grace

    st = _store(store)
    if not is_store(st.root):
        raise RqbenchError("not an rqbench artifact store (no rqbench-store.json, no artifact folders): gc "
                           "deletes only inside a store", st.root)
    grace_s = parse_grace(grace)
    roots = results or [Path("results")]
    if not delete:
        _print_gc(gc_candidates(st, roots, grace_s), grace, deleted=None)
        return
    with gc_lock(st.root, exclusive=True):  # a run starting now waits, then rebuilds what gc removed
        plan = gc_candidates(st, roots, grace_s)
        _print_gc(plan, grace, deleted=_delete(st, plan))


def _delete(st: ArtifactStore, plan: GcPlan) -> tuple[list[Candidate], list[Candidate]]:
    """Remove the plan's candidates and the markers of killed runs; (removed, skipped: a build took them)."""
    from rqbench.store.maintenance import remove

    for marker in plan.stale_markers:  # nobody holds its lock: the run that wrote it is gone
        marker.unlink(missing_ok=True)
    return remove(st, plan.candidates)


def _print_gc(plan: GcPlan, grace: str, deleted: tuple[list[Candidate], list[Candidate]] | None) -> None:
    from rqbench.store.maintenance import human_bytes

    candidates, skipped = deleted if deleted is not None else (plan.candidates, [])
    for cand in candidates:
        print(f"{cand.reason:<12} {human_bytes(cand.bytes):>9}  {cand.path}")
    for cand in skipped:
        print(f"{'in use':<12} {human_bytes(cand.bytes):>9}  {cand.path} (a build holds its lock: kept)")
    if plan.live:
        print(f"kept {len(plan.live)} unreferenced artifact(s) that a running rqbench builds or uses")
    if plan.recent:
        print(f"kept {len(plan.recent)} unreferenced artifact(s) built within --grace {grace} "
              "(--grace 0 removes them)")
    total = human_bytes(sum(c.bytes for c in candidates))
    counts = ", ".join(f"{sum(c.reason == r for c in candidates)} {r}"
                       for r in ("stale tmp", "unreferenced", "damaged"))
    if deleted is not None:
        print(f"removed {len(candidates)} item(s) ({counts}), {total}")
    else:
        print(f"would remove {len(candidates)} item(s) ({counts}), {total}; run with --delete to remove them")
