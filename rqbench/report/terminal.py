"""The compact terminal table `rqbench run` and `rqbench report` print (rich; fits 80 columns)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rqbench.report.format import DOWN, UP, dataset_text, fmt_diff, fmt_short, n_queries_text, pct

if TYPE_CHECKING:
    from rich.console import Console

    from rqbench.report.model import Report


def render_terminal(report: Report, console: Console) -> None:
    """A compact rich table per evaluation set: variant rows, one column per measure; each cell holds the
    value with its mark and, for non-baseline variants, the difference and its CI on the lines below."""
    from rich.text import Text

    for section in report.sections:
        _print_tables(section, console)
    if report.baseline is not None:
        console.print(Text(
            f"*: baseline. cells: value, difference from '{report.baseline}', its {pct(report)}% paired-bootstrap CI. "
            f"{UP}/{DOWN}: significant at alpha={report.alpha:g} (paired randomization test, Holm across "
            "variants). Full tables, t-tests, W/T/L and definitions: `rqbench report`.", style="dim"))
    for note in report.notes:
        console.print(Text("note: " + note, style="yellow"))


def _print_tables(report: Report, console: Console) -> None:
    """One evaluation set's table, split into several when the measures do not fit the width."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"{report.suite}: {dataset_text(report.meta['dataset'])}, {n_queries_text(report)} queries"
    # a long (grid) variant name folds onto several lines rather than squeezing the numbers out
    name_width = min(max(len(v) for v in report.variants) + 2, max(16, console.width // 3)) if report.variants else 8
    per_table = max(1, (console.width - name_width - 2) // 15)  # as many measure columns as fit
    for first in range(0, max(len(report.measures), 1), per_table):
        measures = report.measures[first:first + per_table]
        table = Table(title=title if first == 0 else None, title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        table.add_column("variant", overflow="fold", max_width=name_width)
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
        console.print(table)
