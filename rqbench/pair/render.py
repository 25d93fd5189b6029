"""A PairDetail as text: the terminal (rich: the summary first, then the sorted differences as a one-line
bar chart, then each query with both systems' top passages side by side) and Markdown.

One sign convention throughout: every difference is A - B, the first system named minus the second (in
`rqbench compare`, the candidate minus the baseline, as in its table), and the summary says so once.
Everything wraps between words at the console's width (80 when piped); names, query and passage texts
are escaped in Markdown (`rqbench.report.mdtext`), so that a notebook never renders them as HTML."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.report.mdtext import md_cell, md_text
from rqbench.types import CONTROL_CHARS  # each shows as a space: no escape sequence reaches a terminal

if TYPE_CHECKING:
    from rqbench.pair.detail import PairDetail, Passage, QueryDiff

BARS = "▁▂▃▄▅▆▇█"
SNIPPET = 160  # characters of a passage in the terminal and in Markdown
TIE = "·"  # a bucket of the signed sparkline whose differences average to 0


def verdict(d: PairDetail) -> str:
    """Who wins, in words: 'A is significantly better', or no significant difference at alpha."""
    c = d.comparison
    p, test = (c.t_p, "paired t-test") if d.test == "t" else (c.rand_p, "randomization test")
    if p < d.alpha and c.diff != 0:  # the table's test decides, so that summary and table agree
        return f"{d.a if c.diff > 0 else d.b} is significantly better ({test}, alpha={d.alpha:g})"
    return f"no significant difference at alpha={d.alpha:g}"


def summary_lines(d: PairDetail) -> list[str]:
    """The answer in three sentences: who wins; the means, the difference A - B with its CI and both
    p-values; win / tie / loss, with the sign convention stated once."""
    c = d.comparison
    base = " (baseline)" if d.baseline is not None and d.baseline == d.b else ""
    ci = f"{100 * (1 - d.alpha):g}% CI {c.ci_low:+.4f}, {c.ci_high:+.4f}"
    return [f"{d.a} vs {d.b}{base} on {d.measure} ({d.label}, {c.n} queries): {verdict(d)}.",
            f"{d.a} {c.mean_a:.4f}, {d.b} {c.mean_b:.4f}: difference {c.diff:+.4f} [{ci}], randomization p "
            f"{c.rand_p:.4g}, t-test p {c.t_p:.4g}.",
            f"{d.a} wins {c.wins}, ties {c.ties}, loses {c.losses}; every difference here is {d.a} − {d.b}."]


def summary(d: PairDetail) -> str:
    return " ".join(summary_lines(d))


def sparkline(diffs: list[float], width: int = 80) -> str:
    """The differences sorted descending, `width` buckets wide: bar height is |difference| (1 = full),
    above-zero buckets first; no sign (see `signed_sparkline`)."""
    return "".join(" " if level is None else BARS[level] for level, _ in _buckets(diffs, width))


def signed_sparkline(diffs: list[float], width: int = 80) -> str:
    """`sparkline` with its sign in plain text, at most `width` characters: '+' before the run of buckets
    above zero, '-' before those below, TIE for buckets that average to 0 ('+▃▂▁ ·· -▁▂▃')."""
    return " ".join(_signed_runs(diffs, width))


def _signed_runs(diffs: list[float], width: int) -> list[str]:
    """The runs of `signed_sparkline` ('+▃▂▁', '··', '-▁▂▃'), the empty ones left out."""
    buckets = _buckets(diffs, max(1, width - 4))  # room for '+', '-' and the spaces between the runs
    runs = {1: "", 0: "", -1: ""}
    for level, sign in buckets:
        runs[sign] += TIE if level is None else BARS[level]
    return [("+" if s > 0 else "-" if s < 0 else "") + runs[s] for s in (1, 0, -1) if runs[s]]


def _buckets(diffs: list[float], width: int) -> list[tuple[int | None, int]]:
    """(bar level or None for 0, sign) per bucket of the differences sorted descending."""
    values = sorted(diffs, reverse=True)
    step = max(1, -(-len(values) // max(1, width)))
    out = []
    for i in range(0, len(values), step):
        bucket = values[i:i + step]
        mean = sum(bucket) / len(bucket)
        if abs(mean) < 1e-12:
            out.append((None, 0))
        else:
            out.append((min(len(BARS) - 1, int(abs(mean) * (len(BARS) - 1) + 0.5)), 1 if mean > 0 else -1))
    return out


def _passage(p: Passage | None, width: int = SNIPPET) -> str:
    if p is None:
        return "–"
    grade = "not judged" if p.grade is None else f"grade {p.grade}"
    text = CONTROL_CHARS.sub(" ", p.text)
    text = text if len(text) <= width else text[: width - 1] + "…"
    return f"[{grade}] {p.docid}" + (f": {text}" if text else "")


def _pairs(q: QueryDiff, top: int) -> list[tuple[int, Passage | None, Passage | None]]:
    def at(ps: list[Passage], i: int) -> Passage | None:
        return ps[i] if i < len(ps) else None

    return [(i + 1, at(q.a_top, i), at(q.b_top, i)) for i in range(top)]


def _heading(d: PairDetail, q: QueryDiff) -> str:
    text = f" “{CONTROL_CHARS.sub(' ', q.text)}”" if q.text else ""
    return (f"{q.qid}{text}: {d.a} {q.a:.4f}, {d.b} {q.b:.4f} ({q.diff:+.4f}); "
            f"{q.relevant} judged relevant")


def print_summary(d: PairDetail, console: Any) -> None:
    """The summary's sentences, each wrapped between words at the console's width."""
    from rich.text import Text

    for i, line in enumerate(summary_lines(d)):
        console.print(Text(line, style="bold" if i == 0 else ""))


def print_queries(d: PairDetail, console: Any) -> None:
    """The sorted differences (signed, coloured on a terminal) and the queries with both top passages."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    if d.diffs:
        console.print(Text(f"sorted per-query differences ({d.a} − {d.b}):"))
        colour = {"+": "green", "-": "red"}
        parts = [x for i, run in enumerate(_signed_runs(list(d.diffs.values()), min(80, console.width)))
                 for x in ([(" ", "dim")] if i else []) + [(run, colour.get(run[:1], "dim"))]]
        console.print(Text.assemble(*parts))
    if d.queries:
        console.print(f"\nthe {len(d.queries)} queries with the largest differences:")
    side = max(8, (console.width - 12) // 2)  # a passage column's text: the width less '#' and the borders
    for q in d.queries:
        table = Table(title=escape(_heading(d, q)), title_justify="left", show_lines=True, expand=True)
        table.add_column("#", justify="right", width=2)
        table.add_column(escape(_wrapped(d.a, side)), ratio=1, overflow="fold")
        table.add_column(escape(_wrapped(d.b, side)), ratio=1, overflow="fold")
        for rank, pa, pb in _pairs(q, d.top):
            table.add_row(str(rank), escape(_passage(pa)), escape(_passage(pb)))
        console.print(table)
    for note in d.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def _wrapped(name: str, width: int) -> str:
    """A system's name as a column heading: whole when it fits, else broken after a separator ('-', '.',
    '/', ...) where one allows (`rqbench.report.terminal.fold`)."""
    from rqbench.report.terminal import fold

    return "\n".join(fold(name, width))


def print_terminal(d: PairDetail, console: Any = None) -> None:
    """The summary, then the sorted differences and the queries."""
    from rich.console import Console

    console = console or Console()
    print_summary(d, console)
    print_queries(d, console)


def to_markdown(d: PairDetail) -> str:
    lines = [f"# {md_text(f'{d.a} vs {d.b} on {d.measure}')}", "", *(md_text(s) for s in summary_lines(d)), "",
             f"Sorted per-query differences ({md_text(d.a)} − {md_text(d.b)}): "
             f"`{signed_sparkline(list(d.diffs.values()))}`", ""]
    for q in d.queries:
        lines += [f"## {md_text(_heading(d, q))}", "", f"| # | {md_cell(md_text(d.a))} | {md_cell(md_text(d.b))} |",
                  "|---:|---|---|"]
        lines += [f"| {rank} | {md_cell(md_text(_passage(pa)))} | {md_cell(md_text(_passage(pb)))} |"
                  for rank, pa, pb in _pairs(q, d.top)]
        lines.append("")
    lines += [f"- note: {md_text(n)}" for n in d.notes]
    return "\n".join(lines).rstrip() + "\n"
