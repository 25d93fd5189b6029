"""A Leaderboard as text: Markdown (GitHub tables, tie-group letters as superscripts), CSV and a pandas
DataFrame (wide: one row per system, value / rank / groups per column), a JSON-friendly dict, and the
terminal table (`rqbench.board.terminal`)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from rqbench.board.cost import COST_FIELDS, COST_NOTE, LOAD_MARK, LOAD_NOTE, has_load_marks, load_marked
from rqbench.board.ties import has_two_letter_labels
from rqbench.report.mdtext import md_cell, md_text

if TYPE_CHECKING:
    from rqbench.board.model import Cell, Leaderboard

DASH = "–"


def _fmt(cell: Cell | None, *, markdown: bool) -> str:
    if cell is None:
        return DASH
    text = f"{cell.value:.4f}"
    if cell.sd is not None:
        text += f" ± {cell.sd:.4f}"
    if cell.groups:
        text += f"<sup>{cell.groups}</sup>" if markdown else f" {cell.groups}"
    if cell.missing:
        text += "*"
    if not cell.paired:
        text += "†"
    return text


def _cost(value: float | None, field: str) -> str:
    if value is None:
        return DASH
    return f"{value:,.1f}" if COST_FIELDS[field][1] in ("s", "MB") else f"{value:,.2f}"


def header(board: Leaderboard, sep: str = " ") -> list[str]:
    """Column titles; `sep` goes between an evaluation set and its measure ("\\n" for the terminal)."""
    cost = [f"{COST_FIELDS[f][0]}{sep}({COST_FIELDS[f][1]})" for f in board.cost_fields()]
    means = [f"mean{sep}{m}" for m in board.measures] if board.has_mean() else []
    hardware = ["hardware"] if any(s.hardware for s in board.systems) and cost else []
    return ["#", "system", *[f"{c.dataset}{sep}{c.measure}" for c in board.columns], *means, *cost, *hardware]


def rows(board: Leaderboard, *, markdown: bool = False) -> list[list[str]]:
    """The table's cells as text, one list per system in ranking order."""
    out = []
    fields = board.cost_fields()
    for i, system in enumerate(board.systems, start=1):
        name = system.name + (f" ({len(system.seeds)} seeds)" if system.seeds else "")
        values = [_fmt(board.cell(system.name, c), markdown=markdown) for c in board.columns]
        means = [f"{board.means[m][system.name]:.4f}" if system.name in board.means[m] else DASH
                 for m in board.measures] if board.has_mean() else []
        cost = [_cost(system.cost.get(f), f) + (LOAD_MARK if load_marked(system.cost, f) else "") for f in fields]
        hardware = [system.hardware or DASH] if any(s.hardware for s in board.systems) and fields else []
        if markdown:  # the values hold our own <sup> markup; the name and the hardware are text from the data
            name, hardware = md_cell(md_text(name)), [md_cell(md_text(h)) for h in hardware]
        out.append([str(i), name, *values, *means, *cost, *hardware])
    return out


def legend(board: Leaderboard) -> list[str]:
    """The lines under the table: what the letters and markers mean, the notes and the conflicts."""
    lines = [f"{board.order_sentence} Letters: systems sharing a letter in a "
             "column are not significantly "
             f"different (paired {board.test} test over the column's queries, {board.correction}-corrected over "
             f"the column's pairs, alpha {board.alpha})."]
    cells = list(board.cells.values())
    if has_two_letter_labels(c.groups for c in cells):
        lines.append("Past 26 groups the labels have two letters and are separated by '.': 'z.aa' is z and aa.")
    if any(c.sd is not None for c in cells):
        lines.append("± : standard deviation over the seeds of a multi-seed arm (its value is the mean over seeds).")
    if any(c.missing for c in cells):
        lines.append("* : the system has no value for some of the column's queries; they score 0 (see notes).")
    if any(not c.paired for c in cells):
        lines.append("† : no per-query values were found: the record's mean, outside the tie groups.")
    if board.cost_fields():
        lines.append(COST_NOTE)
        if has_load_marks(board):
            lines.append(LOAD_NOTE)
    lines += [f"Note: {n}" for n in board.notes]
    lines += [f"Conflict: {c}" for c in board.conflicts]
    return lines


def to_markdown(board: Leaderboard) -> str:
    head = [md_cell(md_text(h)) for h in header(board)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" + ":---|" + "---:|" * (len(head) - 2)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(board, markdown=True)]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {md_text(line)}" for line in legend(board)) + "\n"


def wide(board: Leaderboard) -> tuple[list[str], list[list[Any]]]:
    """Machine-readable wide table: full-precision numbers, None for absent values."""
    names = ["system", "position", "suites", "seeds", "backend", "description"]
    for c in board.columns:
        names += [c.label, f"{c.label} sd", f"{c.label} rank", f"{c.label} groups", f"{c.label} missing"]
    if board.has_mean():
        names += [f"mean {m}" for m in board.measures]
    names += [*board.cost_fields(), "hardware"]
    out = []
    for i, s in enumerate(board.systems, start=1):
        row: list[Any] = [s.name, i, "; ".join(s.suites), " ".join(map(str, s.seeds)), s.backend, s.description]
        for c in board.columns:
            cell = board.cell(s.name, c)
            row += [cell.value, cell.sd, cell.rank, cell.groups, cell.missing] if cell else [None] * 5
        if board.has_mean():
            row += [board.means[m].get(s.name) for m in board.measures]
        row += [s.cost.get(f) for f in board.cost_fields()] + [s.hardware]
        out.append(row)
    return names, out


def to_csv(board: Leaderboard) -> str:
    names, table = wide(board)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in table:
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def to_frame(board: Leaderboard) -> Any:
    import pandas as pd

    names, table = wide(board)
    return pd.DataFrame(table, columns=names).set_index("system")


def to_dict(board: Leaderboard) -> dict[str, Any]:
    return {
        "sort_key": board.sort_key, "order": board.order_note, "alpha": board.alpha, "test": board.test,
        "correction": board.correction,
        "columns": [{"dataset": c.dataset, "measure": c.measure} for c in board.columns],
        "systems": [{"name": s.name, "suites": list(s.suites), "backend": s.backend, "description": s.description,
                     "about": s.about, "seeds": list(s.seeds), "cost": s.cost, "hardware": s.hardware,
                     "cells": {c.label: vars(cell) for c in board.columns if (cell := board.cell(s.name, c))},
                     "means": {m: board.means[m][s.name] for m in board.measures if s.name in board.means[m]}}
                    for s in board.systems],
        "notes": board.notes, "conflicts": board.conflicts,
    }
