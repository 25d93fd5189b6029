"""Recorded systems as compare arguments: `SUITE:VARIANT` (or `SUITE:VARIANT@EVALUATION` when the variant
was evaluated on several sets) names the run file a suite's newest record of that variant wrote under
the results folder, and the dataset and split it was evaluated on (so the qrels need not be given)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.records import read_records

REF = re.compile(r"^(?P<suite>[^:/\\]+):(?P<variant>[^@]+?)(?:@(?P<evaluation>[^@]+))?$")


@dataclass(frozen=True)
class RecordedRun:
    name: str  # "suite:variant" (with "@evaluation" when given)
    path: Path  # the run file
    dataset: str  # the dataset's name (resolved under the data root) or its folder
    split: str


def is_reference(arg: str | Path) -> bool:
    """True for 'suite:variant' that is not an existing file."""
    return not Path(arg).exists() and REF.match(str(arg)) is not None


def resolve_recorded(ref: str, results: Path) -> RecordedRun:
    """The newest record of the variant in results/<suite>/records.jsonl and its run file."""
    match = REF.match(ref)
    if match is None:
        raise RqbenchError(f"'{ref}' is neither a file nor SUITE:VARIANT")
    suite, variant, evaluation = match["suite"], match["variant"], match["evaluation"]
    path = Path(results) / suite / "records.jsonl"
    if not path.is_file():
        suites = sorted(p.parent.name for p in Path(results).glob("*/records.jsonl"))
        raise RqbenchError(f"no records of suite '{suite}' under {results}" + did_you_mean(suite, suites))
    records = read_records(path)
    mine = [r for r in records if variant in (r["variant"], (r.get("system") or {}).get("name"))]
    if not mine:
        raise RqbenchError(f"suite '{suite}' has no variant '{variant}'"
                           + did_you_mean(variant, {r["variant"] for r in records}), path)
    sets = list(dict.fromkeys(str((r.get("evaluation") or {}).get("name") or "") for r in mine))
    if evaluation is not None:
        mine = [r for r in mine if str((r.get("evaluation") or {}).get("name") or "") == evaluation]
        if not mine:
            raise RqbenchError(f"'{suite}:{variant}' has no evaluation '{evaluation}'" + did_you_mean(evaluation, sets),
                               path)
    elif len(sets) > 1:
        raise RqbenchError(f"'{suite}:{variant}' was evaluated on several sets: name one, e.g. "
                           f"'{suite}:{variant}@{sets[0]}' (sets: {', '.join(sets)})", path)
    record = mine[-1]
    if not record.get("run_file"):
        raise RqbenchError(f"the record of '{ref}' names no run file", path)
    run = path.parent / record["run_file"]
    if not run.is_file():
        raise RqbenchError(f"the run file of '{ref}' is missing", run)
    ds = record.get("dataset") or {}
    source = ds.get("source")
    dataset = str(ds.get("name")) if not (source and Path(source).is_dir()) else str(source)
    return RecordedRun(name=ref, path=run, dataset=dataset, split=str(ds.get("split") or "test"))
