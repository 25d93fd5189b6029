"""The compact terminal tables `rqbench run`, `rqbench report` and `rqbench compare` print (rich).

Everything reads at the console's width (80 when output is piped), and nothing is cut: a title or a
sentence wraps between words; a name column keeps its names whole whenever they fit beside the widest
value column, and otherwise folds them between words or after a separator ('-', '/', ...), mid-word only
for a word wider than the column; value columns keep their full width, and the value columns that do not
fit beside the names go to further tables, each repeating the names (`_print_split`, used by every table).
The view opens with the report's answer (`rqbench.report.headline`): each declared contrast's verdict,
or each evaluation set's headline against the baseline."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, NamedTuple

from rqbench.report.audit_text import AUDITS_INTRO, UNDENOISED, audit_tables
from rqbench.report.contrast_text import contrast_headers, contrast_rows, contrast_sentences
from rqbench.report.format import (
    DASH,
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
from rqbench.report.headline import SUMMARY_TITLE, headline_rows, headline_sentences
from rqbench.report.legend import options_line, p_headers, seeds_line, terminal_method

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from rqbench.report.model import Report

_NAME_HEADER = "variant"
_VALUE_WIDTH = 13  # a results cell's widest line: its CI, "[+.012,-.034]"
_NAME_FLOOR = 8  # a name column is never folded narrower than this (or its heading)
_BREAK_AFTER = frozenset(" -_./,=:;]")  # a folded name breaks after one of these where it can
_MORE_SUITE = "`rqbench report`"
_MORE_RUNS = "`--format markdown`, or `--out DIR` for the full report"


class _Column(NamedTuple):
    header: str
    cells: list[Text]  # one per row


def render_terminal(report: Report, console: Console, *, more: str | None = None, summary: bool = True) -> None:
    """A compact table per evaluation set: variant rows, one column per measure; each cell holds the value
    with its mark and, for non-baseline variants, the difference and its CI on the lines below. With
    pairs="all", a table per measure of every compared pair follows each set's table. A multi-seed arm's
    value is its mean over the seeds with '± sd'; declared contrasts get a table and a sentence each, the
    audits of the training data (denoise, augment) a table each with the sentence on its columns.

    `more` says where the full tables are, for the footer's last sentence ("Full tables, t-tests, W/T/L and
    definitions: <more>."): None for the default (`rqbench report`, or for a report from run files
    `--format markdown` / `--out DIR`), "" to leave the sentence out. `summary` False leaves out the
    opening summary (`rqbench compare` of two systems leads with its own)."""
    from rich.text import Text

    if summary:
        _print_summary(report, console)
    for section in report.sections:
        _print_results(section, console)
        _print_pairwise(section, console)
    _print_contrasts(report, console)
    _print_audits(report, console)
    if more is None:
        more = _MORE_RUNS if report.meta.get("from_runs") else _MORE_SUITE
    if report.baseline is not None:
        console.print(Text(
            f"*: baseline. cells: value, difference from '{report.baseline}', its {pct(report)}% paired-bootstrap CI. "
            f"{UP}/{DOWN}: significant at alpha={report.alpha:g} ({terminal_method(report)})."
            + (f" Full tables, t-tests, W/T/L and definitions: {more}." if more else ""), style="dim"))
    if line := seeds_line(report):
        console.print(Text(line, style="dim"))
    if line := options_line(report):
        console.print(Text(line, style="dim"))
    for note in report.notes:
        console.print(Text("note: " + note, style="yellow"))


# ------------------------------------------------------------------------------------------- layout


def _natural(column: _Column) -> int:
    """The width a column needs to show every line of its heading and cells unbroken."""
    from rich.cells import cell_len

    texts = [column.header, *(cell.plain for cell in column.cells)]
    return max(cell_len(line) for text in texts for line in text.split("\n"))


def _table_width(widths: list[int]) -> int:
    """Width of a box.SIMPLE_HEAD table without edge padding whose columns hold `widths` characters."""
    return sum(widths) + 3 * len(widths) - 1


def _name_room(console: Console, n_keys: int, values: list[_Column], min_value: int = 0) -> int:
    """The characters `n_keys` name columns may share beside the widest of the `values` alone: names that
    fit keep whole, and the value columns that do not fit beside them go to further tables."""
    widest = max((max(min_value, _natural(v)) for v in values), default=0)
    return max(n_keys * _NAME_FLOOR, console.width - _table_width([widest]) - 3 * n_keys)


def _fold_names(keys: list[_Column], available: int, lines: int = 2) -> list[int]:
    """Widths of the name columns sharing `available` characters: their natural widths when they all fit;
    else, when every name fits on `lines` lines (a row's height), the least width for that each, plus what
    is left to the shortest names first, so that as many as possible stay whole; else a fair share. Never
    narrower than `_NAME_FLOOR` or the heading."""
    natural = [_natural(k) for k in keys]
    if sum(natural) <= available:
        return natural
    order = sorted(range(len(keys)), key=lambda i: natural[i])
    words = [min(n, max((_longest_word(c.plain) for c in k.cells), default=0)) for k, n in zip(keys, natural,
                                                                                           strict=True)]
    least = [next((w for w in range(max(_NAME_FLOOR, len(k.header), words[i]), n)
                   if all(len(fold(c.plain, w)) <= lines for c in k.cells)), n)
             for i, (k, n) in enumerate(zip(keys, natural, strict=True))]
    widths = list(least)
    if sum(least) <= available:
        extra = available - sum(least)
        for i in order:
            grow = min(natural[i] - widths[i], extra)
            widths[i], extra = widths[i] + grow, extra - grow
        return widths
    left = available
    for n, i in enumerate(order):
        widths[i] = max(_NAME_FLOOR, len(keys[i].header), min(natural[i], left // (len(order) - n)))
        left -= widths[i]
    return widths


def fold(name: str, width: int) -> list[str]:
    """`name` in lines of at most `width` characters, each broken after the last space or separator ('-',
    '.', '/', ...) that fits, mid-word only where a line holds none; no character is dropped."""
    lines = []
    while width > 0 and len(name) > width:
        cut = max((i + 1 for i, ch in enumerate(name[:width]) if ch in _BREAK_AFTER), default=0) or width
        lines.append(name[:cut])
        name = name[cut:]
    return [*lines, name]


def _longest_word(text: str) -> int:
    """The widest piece of `text` that `fold` keeps on one line (a word, with the separator it ends in)."""
    longest, run = 0, 0
    for ch in text:
        run += 1
        if ch in _BREAK_AFTER or ch == "\n":
            longest, run = max(longest, run - (ch in " \n")), 0
    return max(longest, run)


def _fold_name(text: Text, width: int) -> Text:
    """A name cell folded to `width` by `fold` (a cell holding several lines already is left alone)."""
    from rich.text import Text

    if "\n" in text.plain or len(text.plain) <= width:
        return text
    return Text("\n".join(fold(text.plain, width)), style=text.style)


def _print_split(console: Console, title: str | None, keys: list[_Column], key_widths: list[int],
                 values: list[_Column], min_value: int = 0) -> None:
    """Print `title` (wrapped between words), then tables of the `keys` (name columns, folded to `key_widths`, repeated
    in each table) beside as many of the `values` (right-aligned, never wrapped or cut, at least
    `min_value` wide) as the console's width holds; value columns that do not fit go to the next table."""
    from rich.text import Text

    if title:
        console.print(Text(title, style="italic"))
    value_widths = [max(min_value, _natural(v)) for v in values]
    groups: list[list[int]] = []
    for i, w in enumerate(value_widths):
        if groups and _table_width([*key_widths, *(value_widths[j] for j in groups[-1]), w]) <= console.width:
            groups[-1].append(i)
        else:
            groups.append([i])
    for group in groups or [[]]:
        widths = [value_widths[i] for i in group]
        names = list(key_widths)
        room = console.width - _table_width(widths) - 3 * len(names)  # for the names' text, when they are first
        if sum(names) > room:  # one value column beside the names is too wide: fold the names further
            names = [max(1, len(k.header), room // len(names)) for k in keys]
        folded = [_Column(k.header, [_fold_name(c, w) for c in k.cells]) for k, w in zip(keys, names, strict=True)]
        console.print(_table(folded, names, [values[i] for i in group], widths,
                             fixed=_table_width([*names, *widths]) <= console.width))


def _table(keys: list[_Column], key_widths: list[int], values: list[_Column], widths: list[int],
           fixed: bool) -> Table:
    """A rich Table of the columns at exactly these widths (`fixed`), or, on a console too narrow for even
    one value column, with every column free to fold (numbers break across lines rather than be cut)."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for key, width in zip(keys, key_widths, strict=True):
        table.add_column(key.header, overflow="fold", width=width if fixed else None)
    for column, width in zip(values, widths, strict=True):
        table.add_column(column.header, justify="right", no_wrap=fixed, overflow="fold",
                         width=width if fixed else None)
    columns = [*keys, *values]
    for row in range(len(keys[0].cells)):
        table.add_row(*(c.cells[row] for c in columns))
    return table


# ------------------------------------------------------------------------------------------- tables


def _title(report: Report) -> str:
    return f"{report.suite}: {dataset_text(report.meta['dataset'])}, {n_queries_text(report)} queries"


def _print_summary(report: Report, console: Console) -> None:
    """The answer first: a line per declared contrast test (name, measure, verdict, A - B and its CI; under
    each evaluation set's label when there are several), or a sentence per evaluation set on its first
    measure against the baseline. Lines wider than the console wrap between words."""
    from rich.text import Text

    rows = headline_rows(report)
    sentences = headline_sentences(report)
    if not rows and not sentences:
        return
    about = f" ({pct(report)}% CI of A - B; the tables follow)" if rows else ""
    console.print(Text(f"{report.suite}: {SUMMARY_TITLE.lower()}{about}", style="italic"))
    for sentence in sentences:
        console.print(Text(sentence, style="bold"))
    several = len(report.sections) > 1
    widths = [max(len(r[k]) for r in rows) for k in ("name", "measure", "verdict")] if rows else []
    labels = list(dict.fromkeys(r["label"] for r in rows)) if several else [None]
    for label in labels:
        if label is not None:
            console.print(Text(label))
        for r in (r for r in rows if label is None or r["label"] == label):
            _print_summary_row(console, r, widths, indent="  " if several else "")


def _print_summary_row(console: Console, r: dict, widths: list[int], indent: str) -> None:
    """One contrast test of the summary: name, measure and verdict padded to `widths`, then A - B [CI]."""
    from rich.text import Text

    colour = {"up": "green", "down": "red"}
    numbers = f"{r['diff']} {r['ci_short']}" if r["ran"] else DASH
    console.print(Text.assemble(indent, f"{r['name']:<{widths[0]}}  {r['measure']:<{widths[1]}}  ",
                                (f"{r['verdict']:<{widths[2]}}", colour.get(r["cls"], "")), f"  {numbers}"))


def _print_results(report: Report, console: Console) -> None:
    """One evaluation set's results: variants x measures, split into several tables when they do not fit."""
    from rich.text import Text

    names = _Column(_NAME_HEADER, [Text(v + (" *" if v == report.baseline else ""),
                                        style="bold" if v == report.baseline else "") for v in report.variants])
    columns = []
    for m in report.measures:
        cells = []
        for v in report.variants:
            value = report.metrics.get(v, {}).get(m)
            mark = report.mark(m, v)
            sd = (report.seeds.get(v) or {}).get("sd", {}).get(m)
            spread = f" ± {sd:.4f}" if sd is not None else ""
            text = "-" if value is None else f"{value:.4f}{spread}{' ' + mark if mark else '  '}"
            c = report.comparison(m, v)
            if c is not None:
                text += f"\n{fmt_diff(c.diff)}  \n[{fmt_short(c.ci_low)},{fmt_short(c.ci_high)}]"
            cells.append(Text(text, style="green" if mark == UP else "red" if mark == DOWN else ""))
        columns.append(_Column(m, cells))
    # a (grid) variant name stays whole when it fits beside one value column, and folds only beyond that
    widths = _fold_names([names], _name_room(console, 1, columns, _VALUE_WIDTH))
    _print_split(console, _title(report), [names], widths, columns, _VALUE_WIDTH)


def _print_pairwise(report: Report, console: Console) -> None:
    """Per measure, every compared pair of a one-set report: A and B in columns of their own, Δ (A - B)
    with its mark and CI below it, the deciding p-value and W/T/L."""
    from rich.text import Text

    p_rand, p_t = p_headers(report)
    for m in pairwise_measures(report):
        rows = pairwise_rows(report, m)
        keys = [_Column("A", [Text(r["a"]) for r in rows]), _Column("B", [Text(r["b"]) for r in rows])]
        deltas = [Text(f"{r['diff']}{' ' + r['mark'] if r['mark'] else '  '}\n{r['ci_short']}",
                       style="green" if r["mark"] == UP else "red" if r["mark"] == DOWN else "") for r in rows]
        values = [
            _Column(f"Δ\n{pct(report)}% CI", deltas),
            _Column(p_t if report.test == "t" else p_rand,
                    [Text(r["p_t"] if report.test == "t" else r["p_rand"]) for r in rows]),
            _Column("W/T/L", [Text(r["wtl"]) for r in rows]),
        ]
        room = _name_room(console, len(keys), values)
        _print_split(console, f"{m}: pairwise (A vs B, Δ = A - B)", keys, _fold_names(keys, room), values)


def _print_contrasts(report: Report, console: Console) -> None:
    """The declared contrasts: one row per test (the contrast, and the set when there are several, as
    names; the measure, A and B with their values, A - B with its CI, both p-values and the verdict as
    values), then a sentence per contrast."""
    from rich.text import Text

    rows = contrast_rows(report)
    if not rows:
        return
    p_raw, p_corrected = (h.replace(" (", "\n(", 1) for h in contrast_headers(report))
    keys = [_Column("contrast", [Text(r["name"]) for r in rows])]
    if report.sets:
        keys.append(_Column("set", [Text(r["label"]) for r in rows]))
    colour = {"up": "green", "down": "red"}
    values = [
        _Column("measure", [Text(r["measure"]) for r in rows]),
        _Column("A", [Text("\n".join(r["a_parts"])) for r in rows]),
        _Column("B", [Text("\n".join(r["b_parts"])) for r in rows]),
        _Column(f"A - B\n{pct(report)}% CI",
                [Text(f"{r['diff']}\n{r['ci_short']}" if r["ran"] else r["diff"]) for r in rows]),
        _Column(p_raw, [Text(r["p"]) for r in rows]),
        _Column(p_corrected, [Text(r["p_corrected"]) for r in rows]),
        _Column("verdict", [Text(r["verdict"], style=colour.get(r["cls"], "")) for r in rows]),
    ]
    room = _name_room(console, len(keys), values)
    _print_split(console, f"{report.suite}: declared contrasts", keys, _fold_names(keys, room), values)
    for sentence in contrast_sentences(report):
        console.print(Text(sentence))


def _print_audits(report: Report, console: Console) -> None:
    """The audits of the training data: per role a table (variant and seed as names, the counts and rates
    as values, long headings on two lines), then the sentence on its columns and its footnote, dimmed."""
    from rich.text import Text

    tables = audit_tables(report)
    if tables:
        console.print(Text(f"{report.suite}: audits. {AUDITS_INTRO}", style="italic"))
    for t in tables:
        headers = [h[0].lower() + h[1:] if h[1:2].islower() else h for h in t.headers]  # "MC", "P(...)" kept
        columns = [_Column(textwrap.fill(h, 16) if i >= t.n_names else h,
                           [Text(row[i].replace(UNDENOISED, UNDENOISED.replace(" (", "\n(", 1))) for row in t.rows])
                   for i, h in enumerate(headers)]
        keys, values = columns[:t.n_names], columns[t.n_names:]
        room = _name_room(console, len(keys), values)
        _print_split(console, t.title, keys, _fold_names(keys, room), values)
        for line in (t.key, t.footnote):
            if line:
                console.print(Text(line, style="dim"))
