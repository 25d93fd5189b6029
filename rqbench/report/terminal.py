"""The compact terminal table `rqbench run` and `rqbench report` print (rich; fits 80 columns).

Variant names are never cut: the name column is at least as wide as its heading and folds a long name
onto several lines, and a table that would not fit the console's width (80 when output is piped) is
split into several with fewer measure columns each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rqbench.report.format import (
    DOWN,
    UP,
    dataset_text,
    fmt_diff,
    fmt_short,
    n_queries_text,
    pairwise_measures,
    pairwise_rows,
    pct,
)
from rqbench.report.legend import options_line, p_headers, terminal_method

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from rqbench.report.model import Report

_NAME_HEADER = "variant"


def render_terminal(report: Report, console: Console) -> None:
    """A compact rich table per evaluation set: variant rows, one column per measure; each cell holds the
    value with its mark and, for non-baseline variants, the difference and its CI on the lines below.
    With pairs="all", a table per measure of every compared pair follows each set's table."""
    from rich.text import Text

    for section in report.sections:
        _print_tables(section, console)
        _print_pairwise(section, console)
    if report.baseline is not None:
        console.print(Text(
            f"*: baseline. cells: value, difference from '{report.baseline}', its {pct(report)}% paired-bootstrap CI. "
            f"{UP}/{DOWN}: significant at alpha={report.alpha:g} ({terminal_method(report)}). "
            "Full tables, t-tests, W/T/L and definitions: `rqbench report`.", style="dim"))
    if line := options_line(report):
        console.print(Text(line, style="dim"))
    for note in report.notes:
        console.print(Text("note: " + note, style="yellow"))


def _name_width(names: list[str], console: Console) -> int:
    """Width of the name column: the longest name (+2 for the baseline's ' *'), at most a third of the
    console (a longer name folds), never narrower than the column heading."""
    longest = max((len(v) for v in names), default=0)
    return max(len(_NAME_HEADER), min(longest + 2, max(16, console.width // 3)))


def _fits(table: Table, console: Console) -> bool:
    from rich.measure import Measurement

    return Measurement.get(console, console.options, table).minimum <= console.width


def _print_tables(report: Report, console: Console) -> None:
    """One evaluation set's table, split into several when the measures do not fit the width."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"{report.suite}: {dataset_text(report.meta['dataset'])}, {n_queries_text(report)} queries"
    # a long (grid) variant name folds onto several lines rather than squeezing the numbers out
    name_width = _name_width(report.variants, console)

    def table_of(measures: list[str], first: bool) -> Table:
        table = Table(title=title if first else None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column(_NAME_HEADER, overflow="fold", min_width=len(_NAME_HEADER), max_width=name_width)
        for m in measures:
            table.add_column(m, justify="right", no_wrap=True, min_width=13)
        for v in report.variants:
            is_base = v == report.baseline
            cells: list[Text | str] = [Text(v + (" *" if is_base else ""), style="bold" if is_base else "")]
            for m in measures:
                value = report.metrics.get(v, {}).get(m)
                mark = report.mark(m, v)
                style = "green" if mark == UP else "red" if mark == DOWN else ""
                text = "-" if value is None else f"{value:.4f}{' ' + mark if mark else '  '}"
                c = report.comparison(m, v)
                if c is not None:
                    text += f"\n{fmt_diff(c.diff)}  \n[{fmt_short(c.ci_low)},{fmt_short(c.ci_high)}]"
                cells.append(Text(text, style=style))
            table.add_row(*cells)
        return table

    per_table = max(1, (console.width - name_width - 2) // 15)  # as many measure columns as fit
    start = 0
    while start < max(len(report.measures), 1):
        count = per_table
        table = table_of(report.measures[start:start + count], start == 0)
        while count > 1 and not _fits(table, console):  # a narrow console: fewer columns per table
            count -= 1
            table = table_of(report.measures[start:start + count], start == 0)
        console.print(table)
        start += count


def _print_pairwise(report: Report, console: Console) -> None:
    """Per measure, every compared pair of a one-set report: Δ (a - b) with its mark, CI, p, W/T/L."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    p_rand, p_t = p_headers(report)
    p_head = p_t if report.test == "t" else p_rand
    for m in pairwise_measures(report):
        rows = pairwise_rows(report, m)
        width = max(len(_NAME_HEADER), min(max(len(r["pair"]) for r in rows), max(16, console.width // 3)))
        table = Table(title=f"{m}: pairwise (A vs B, Δ = A - B)", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        table.add_column("A vs B", overflow="fold", min_width=len("A vs B"), max_width=width)
        table.add_column("Δ", justify="right", no_wrap=True)
        table.add_column(f"{pct(report)}% CI", justify="right", no_wrap=True)
        table.add_column(p_head, justify="right", no_wrap=True)
        table.add_column("W/T/L", justify="right", no_wrap=True)
        for r in rows:
            style = "green" if r["mark"] == UP else "red" if r["mark"] == DOWN else ""
            table.add_row(Text(r["pair"]), Text(f"{r['diff']}{' ' + r['mark'] if r['mark'] else '  '}", style=style),
                          r["ci_short"], r["p_t"] if report.test == "t" else r["p_rand"], r["wtl"])
        console.print(table)
