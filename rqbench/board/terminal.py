"""A Leaderboard in the terminal, readable at any width (80 columns when piped): the whole table when it fits;
else folded, one table per evaluation set (its measures), then the means and the costs, each with the rows
that have a value there and their overall position, a group split further when it is still too wide. Never a
header one character per line, a cut name or a split word."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.board.render import DASH, header, legend, rows
from rqbench.cli.options import fit_table, show_table, terminal_width

if TYPE_CHECKING:
    from rich.table import Table

    from rqbench.board.model import Leaderboard


def _table(title: str | None, head: list[str], body: list[list[str]]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, name in enumerate(head):  # only a system's name may wrap (at a space): a value is never broken
        table.add_column(Text(name), justify="left" if i == 1 else "right", no_wrap=i != 1)
    for row in body:
        table.add_row(*[Text(cell) for cell in row])
    return table


def groups(board: Leaderboard) -> list[tuple[str, list[int], list[str]]]:
    """The folded layout's tables: (title, indices into `header`/`rows`, column headings), the sort key's
    group first."""
    head = header(board)
    n_cols, n_means = len(board.columns), len(board.measures) if board.has_mean() else 0
    out = [(dataset, [2 + i for i, c in enumerate(board.columns) if c.dataset == dataset],
            [c.measure for c in board.columns if c.dataset == dataset]) for dataset in board.datasets]
    if n_means:
        out.append(("mean over the evaluation sets", list(range(2 + n_cols, 2 + n_cols + n_means)),
                    list(board.measures)))
    if len(head) > 2 + n_cols + n_means:
        out.append(("cost", list(range(2 + n_cols + n_means, len(head))), head[2 + n_cols + n_means:]))
    first = "mean over the evaluation sets" if board.sort_key.startswith("mean ") else \
        next((c.dataset for c in board.columns if c.label == board.sort_key), "")
    return sorted(out, key=lambda g: g[0] != first)


def _part(title: str | None, indices: list[int], heads: list[str], body: list[list[str]], chunk: list[int]) -> Table:
    """The table of position, system and the columns `chunk` (a subset of `indices`, headed by `heads`)."""
    heading = ["#", "system", *(heads[indices.index(j)] for j in chunk)]
    return _table(title, heading, [[r[0], r[1], *(r[j] for j in chunk)] for r in body])


def _chunks(indices: list[int], heads: list[str], body: list[list[str]], width: int) -> list[list[int]]:
    """`indices` in runs whose table (position, system and those columns) fits `width`, system names wrapped at
    spaces where needed; a column too wide even alone is a run of its own (shown vertically)."""
    out: list[list[int]] = []
    for i in indices:
        trial = [*out[-1], i] if out else [i]
        if out and fit_table(_part(None, indices, heads, body, trial), width):
            out[-1] = trial
        else:
            out.append([i])
    return out


def print_terminal(board: Leaderboard, console: Any = None, width: int | None = None) -> None:
    """The board within `width` columns (default: `terminal_width`), then its legend wrapped at spaces."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console()
    width = width or terminal_width(console.stderr)
    title = f"leaderboard, ordered by {board.sort_label}"
    body = rows(board)
    whole = _table(title, header(board, "\n"), body)
    if fit_table(whole, width):
        console.print(whole, width=width)
    else:
        console.print(Text(f"{title}; {len(body)} systems, too wide for {width} columns: a table per evaluation "
                           "set, then means and costs (# is the position)", style="bold"), width=width)
        for name, indices, heads in groups(board):
            mine = [r for r in body if any(r[i] != DASH for i in indices)]
            if not mine:
                continue
            for chunk in _chunks(indices, heads, mine, width):
                show_table(console, _part(name, indices, heads, mine, chunk), width=width)
    for line in legend(board):
        console.print(Text(line), width=width)
