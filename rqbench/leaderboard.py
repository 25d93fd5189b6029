"""A leaderboard across suites: systems (variants) as rows, datasets as columns, one measure, from records
only. The same variant name in several suites is the same system; each cell is the newest record's value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.records import latest_by_variant, read_records


@dataclass(frozen=True)
class Leaderboard:
    measure: str
    datasets: list[str]  # "dataset (split)" columns
    rows: list[tuple[str, dict[str, float], float | None]]  # (system, {column: value}, mean over all columns)

    def to_markdown(self) -> str:
        head = ["system", *self.datasets, "mean"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
        for system, values, mean in self.rows:
            cells = [f"{values[d]:.4f}" if d in values else "–" for d in self.datasets]
            lines.append("| " + " | ".join([system, *cells, f"{mean:.4f}" if mean is not None else "–"]) + " |")
        return "\n".join(lines) + "\n"


def build_leaderboard(results_root: Path, measure: str) -> Leaderboard:
    files = sorted(Path(results_root).glob("*/records.jsonl"))
    if not files:
        raise RqbenchError("no records found (run some suites first)", results_root)
    table: dict[str, dict[str, float]] = {}
    columns: list[str] = []
    seen_measures: set[str] = set()
    for path in files:
        for variant, record in latest_by_variant(read_records(path)).items():
            seen_measures.update(record["metrics"])
            if measure not in record["metrics"]:
                continue
            column = f"{record['dataset']['name']} ({record['dataset']['split']})"
            if column not in columns:
                columns.append(column)
            table.setdefault(variant, {})[column] = record["metrics"][measure]
    if not table:
        raise RqbenchError(f"no record has measure '{measure}'" + did_you_mean(measure, seen_measures), results_root)
    rows = []
    for system, values in table.items():
        mean = sum(values.values()) / len(values) if len(values) == len(columns) else None
        rows.append((system, values, mean))
    rows.sort(key=lambda r: (r[2] is None, -(r[2] or 0.0), -max(r[1].values())))
    return Leaderboard(measure, columns, rows)
