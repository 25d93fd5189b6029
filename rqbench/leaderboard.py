"""A leaderboard across suites: systems as rows, evaluation sets "dataset (split)" as columns, one measure,
from records only.

A system is identified by its name (`record["system"]["name"]`, else the variant name) and by the hash of
the run it evaluated (`record["system"]["run"]`, else the record's "retrieve" artifact hash). Each suite
contributes its newest record per (system, dataset, split). Two suites whose newest records for the same
system name on the same (dataset, split) evaluated the same run are the same system: one cell. Different
runs (or a run that cannot be identified) are a conflict: nothing is overwritten; that name's records are
shown per suite, as rows "name (suite)", and the conflict is listed under the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.records import read_records

Row = tuple[str, dict[str, float], float | None]


@dataclass(frozen=True)
class Leaderboard:
    measure: str
    datasets: list[str]  # "dataset (split)" columns
    rows: list[Row]  # (system, {column: value}, mean over all columns)
    conflicts: list[str] = field(default_factory=list)  # one line per (system name, column) in conflict

    def to_markdown(self) -> str:
        head = ["system", *self.datasets, "mean"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
        for system, values, mean in self.rows:
            cells = [f"{values[d]:.4f}" if d in values else "–" for d in self.datasets]
            lines.append("| " + " | ".join([system, *cells, f"{mean:.4f}" if mean is not None else "–"]) + " |")
        if self.conflicts:
            lines += ["", "Conflicts: the same system name evaluated different runs on the same dataset in "
                      "different suites; each suite's records are shown as their own row, \"name (suite)\".", ""]
            lines += [f"- {c}" for c in self.conflicts]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Entry:
    suite: str
    name: str
    run: str | None
    column: str
    value: float


def system_of(record: dict[str, Any]) -> tuple[str, str | None]:
    """(name, run hash) identifying the system a record evaluated; older records lack "system"."""
    system = record.get("system") or {}
    name = system.get("name") or record["variant"]
    run = system.get("run") or (record.get("artifact_hashes") or {}).get("retrieve")
    return str(name), (str(run) if run else None)


def build_leaderboard(results_root: Path, measure: str) -> Leaderboard:
    files = sorted(Path(results_root).glob("*/records.jsonl"))
    if not files:
        raise RqbenchError("no records found (run some suites first)", results_root)
    entries: list[_Entry] = []
    columns: list[str] = []
    seen_measures: set[str] = set()
    for path in files:
        suite = path.parent.name
        latest: dict[tuple[str, str], dict[str, Any]] = {}  # (system name, column) -> newest record
        for record in read_records(path):
            ds = record.get("dataset") or {}
            latest[(system_of(record)[0], f"{ds.get('name')} ({ds.get('split')})")] = record
        for (name, column), record in latest.items():
            metrics = record.get("metrics") or {}
            seen_measures.update(metrics)
            if measure not in metrics:
                continue
            if column not in columns:
                columns.append(column)
            entries.append(_Entry(suite, name, system_of(record)[1], column, float(metrics[measure])))
    if not entries:
        raise RqbenchError(f"no record has measure '{measure}'" + did_you_mean(measure, seen_measures), results_root)

    conflicts, split_names = _conflicts(entries, measure)
    table: dict[str, dict[str, float]] = {}
    for e in entries:  # suites in file order: with one run per cell, the later suite's value is the same run's
        row = f"{e.name} ({e.suite})" if (e.name, e.suite) in split_names else e.name
        table.setdefault(row, {})[e.column] = e.value
    rows: list[Row] = []
    for system, values in table.items():
        mean = sum(values.values()) / len(values) if len(values) == len(columns) else None
        rows.append((system, values, mean))
    # complete rows by their mean; a row missing a column comes after them (fewer columns later), ranked
    # by its mean over the columns it has: never by its best single score
    rows.sort(key=lambda r: (r[2] is None, -len(r[1]), -(sum(r[1].values()) / len(r[1]))))
    return Leaderboard(measure, columns, rows, conflicts)


def _conflicts(entries: list[_Entry], measure: str) -> tuple[list[str], set[tuple[str, str]]]:
    """Lines describing each (system name, column) whose suites evaluated different runs, and the
    (name, suite) pairs to show as their own rows."""
    cells: dict[tuple[str, str], list[_Entry]] = {}
    for e in entries:
        cells.setdefault((e.name, e.column), []).append(e)
    lines: list[str] = []
    split: set[tuple[str, str]] = set()
    for (name, column), group in cells.items():
        # an unidentified run (None) is the same as nothing else: it is only ever its own suite's
        runs = {e.run if e.run is not None else ("?", e.suite) for e in group}
        if len(runs) < 2:
            continue
        split.update((name, e.suite) for e in group)
        listed = "; ".join(f"suite '{e.suite}' run {e.run[:12] if e.run else 'unknown'} ({measure} {e.value:.4f})"
                           for e in group)
        lines.append(f"'{name}' on {column}: {listed}")
    return lines, split
