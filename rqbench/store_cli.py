"""`rqbench store verify` and `rqbench store gc`: check the artifact store, and clean it (dry run first).

Registered in the main command with `app.add_typer(store_app, name="store")`; the logic lives in
`rqbench.store_maintenance`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from rqbench.artifacts import ArtifactStore
from rqbench.errors import RqbenchError

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
    from rqbench.store_maintenance import verify_store

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
        "--results", help="Results folder(s) whose records keep artifacts (default: results).")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove them (default: only list them).")] = False,
) -> None:
    """List what can go: stale tmp folders, unreferenced artifacts, damaged copies (--delete removes them).

    An artifact is referenced when a record under the results folder(s) lists it among its stages (or it
    is an input of one that is)."""
    from rqbench.store_maintenance import gc_candidates, human_bytes, remove

    st = _store(store)
    candidates = gc_candidates(st, results or [Path("results")])
    skipped = []
    if delete:
        candidates, skipped = remove(st, candidates)
    for cand in candidates:
        print(f"{cand.reason:<12} {human_bytes(cand.bytes):>9}  {cand.path}")
    for cand in skipped:
        print(f"{'in use':<12} {human_bytes(cand.bytes):>9}  {cand.path} (a build holds its lock: kept)")
    total = human_bytes(sum(c.bytes for c in candidates))
    counts = ", ".join(f"{sum(c.reason == r for c in candidates)} {r}"
                       for r in ("stale tmp", "unreferenced", "damaged"))
    if delete:
        print(f"removed {len(candidates)} item(s) ({counts}), {total}")
    else:
        print(f"would remove {len(candidates)} item(s) ({counts}), {total}; run with --delete to remove them")
