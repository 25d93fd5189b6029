"""Where a leaderboard's records come from: records.jsonl files, a suite's results folder, a results root
holding many suites, or a committed report (`reports/<suite>/records/records.jsonl`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.records import read_records

NAME = "records.jsonl"


def records_files(source: Path) -> list[Path]:
    """The records files under `source`: itself (a file), its own records.jsonl (a suite folder or a
    committed report), else every `*/records.jsonl` and `*/records/records.jsonl` one level down."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise RqbenchError("no such file or folder", source)
    for own in (source / NAME, source / "records" / NAME):
        if own.is_file():
            return [own]
    found = sorted({*source.glob(f"*/{NAME}"), *source.glob(f"*/records/{NAME}")})
    if not found:
        raise RqbenchError("no records found here (run a suite first, or point at a records.jsonl)", source)
    return found


def load_records(sources: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Every record of every source, in the order given (each file oldest first); a file named twice (or
    reached through two sources) is read once."""
    seen: set[Path] = set()
    records: list[dict[str, Any]] = []
    for source in sources:
        for path in records_files(Path(source)):
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            records.extend(read_records(path))
    return records
