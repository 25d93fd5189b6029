"""Option types shared by the `rqbench` commands, and the console each command prints to."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

DataRoot = Annotated[str | None, typer.Option("--data-root", metavar="DIR", help="Folder of datasets named by "
                                              "short name (default: $RQBENCH_DATA, ./data, ../shared/data).")]
Store = Annotated[Path | None, typer.Option("--store", metavar="DIR", help="Artifact store (default: "
                                            "$RQBENCH_STORE, else .rqbench/store in the current folder).")]
Results = Annotated[Path, typer.Option("--results", metavar="DIR", help="Where records, runs and per-query files "
                                       "go (relative to the current folder).")]
Verify = Annotated[bool, typer.Option("--verify", help="Check every reused artifact's full sha256 digests, not "
                                      "only sizes and times (a damaged artifact is set aside and rebuilt).")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout (progress and "
                                       "tables go to stderr).")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, metavar="N", help="Build up to N independent stages "
                                   "at once.")]
Variants = Annotated[list[str] | None, typer.Option("--variant", metavar="NAME", help="Only this variant "
                                                    "(repeatable).")]
Measures = Annotated[list[str] | None, typer.Option(
    "--measure", "-m", metavar="MEASURE", help="Repeatable, or several in one argument separated by spaces or "
    "commas. ir-measures names (nDCG@10, RR@10, R@100, AP, R(rel=2)@1000), trec_eval names (ndcg_cut.10, "
    "recip_rank, recall_100, map) and aliases (MRR@10, Hit@10), in any case.")]
Alpha = Annotated[float, typer.Option("--alpha", metavar="A", help="Significance level.")]
Test = Annotated[str, typer.Option("--test", metavar="TEST", help="The test that decides significance marks: "
                                   "randomization (paired, default) or t (paired t-test).")]
Correction = Annotated[str, typer.Option("--correction", metavar="NAME", help="Multiple-comparison correction "
                                         "within an evaluation set and measure: holm (default), bonferroni, none.")]
AllPairs = Annotated[bool, typer.Option("--all-pairs", help="Compare every pair of systems, not only each with "
                                        "the baseline.")]
Format = Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="What to print on stdout: table "
                                     "(default), json, csv, latex, markdown, html.")]


def console_for(json_mode: bool) -> Console:
    """With --json (or another machine format) stdout carries only that; tables and progress go to stderr."""
    return Console(stderr=json_mode, width=terminal_width(json_mode))


def terminal_width(stderr: bool = False) -> int:
    """The width tables are laid out for: $COLUMNS when set, else the width of the terminal the output goes to,
    else 80 (piped or redirected output reads at 80 columns whatever terminal started the command)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = sys.stderr if stderr else sys.stdout
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):  # not a terminal
        return 80


def _plain(cell: object) -> str:
    from rich.text import Text

    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)


def _column_texts(table: Table) -> list[list[str]]:
    """Per column: its heading and its cells as plain text."""
    return [[_plain(column.header), *(_plain(cell) for cell in column.cells)] for column in table.columns]


def fit_table(table: Table, width: int, *, wrap: bool = True) -> bool:
    """Make `table` fit `width` characters without cutting a word: its natural widths when they fit; else
    (with `wrap`) its wrappable columns (`no_wrap` False) narrowed, each never below its longest word, the
    columns needing least first kept whole. False when it cannot fit so (show it vertically instead)."""
    from rich.cells import cell_len
    from rich.measure import Measurement

    texts = _column_texts(table)
    natural = [max((cell_len(line) for t in col for line in t.split("\n")), default=0) for col in texts]
    least = [n if c.no_wrap else max((cell_len(w) for t in col for w in t.split()), default=0)
             for n, c, col in zip(natural, table.columns, texts, strict=True)]
    console = Console(width=10**4)
    extra = Measurement.get(console, console.options, table).maximum - sum(natural)  # borders and padding
    available = width - extra
    if sum(natural) <= available:
        return True
    if not wrap or sum(least) > available:
        return False
    widths, slack = list(least), available - sum(least)
    for i in sorted(range(len(widths)), key=lambda i: natural[i] - least[i]):
        grant = min(slack, natural[i] - least[i])
        widths[i] += grant
        slack -= grant
    for column, w, n in zip(table.columns, widths, natural, strict=True):
        if w < n:
            column.width = w
    return True


def print_vertical(console: Console, table: Table, width: int) -> None:
    """A table too wide for the terminal as records: each row's first cell as a heading, then one
    'heading: value' line per other column, wrapped at spaces only (an identifier is never cut)."""
    import textwrap

    from rich.text import Text

    texts = _column_texts(table)
    if table.title:
        console.print(Text(_plain(table.title), style="bold"), width=width)
    for r in range(table.row_count):
        console.print(Text(texts[0][r + 1].replace("\n", " ")), soft_wrap=True)
        for col in texts[1:]:
            line = f"{col[0].replace(chr(10), ' ')}: {col[r + 1].replace(chr(10), ' ')}"
            console.print(Text(textwrap.fill(line, width=width, initial_indent="  ", subsequent_indent="      ",
                                             break_long_words=False, break_on_hyphens=False)), soft_wrap=True)


def show_table(console: Console, table: Table, *, width: int | None = None, wrap: bool = True) -> None:
    """Print `table` within `width` columns (default: `terminal_width` of the console's stream): as a table when
    it fits (`fit_table`), else vertically (`print_vertical`). Never cuts or splits a word."""
    width = width or terminal_width(console.stderr)
    if fit_table(table, width, wrap=wrap):
        console.print(table, width=width)
    else:
        print_vertical(console, table, width)
