"""A PairDetail as text: the terminal (rich: a summary, the sorted differences as a one-line bar chart,
then each query with both systems' top passages side by side) and Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rqbench.pair_detail import PairDetail, Passage, QueryDiff

BARS = "▁▂▃▄▅▆▇█"
SNIPPET = 160  # characters of a passage in the terminal and in Markdown


def summary(d: PairDetail) -> str:
    c = d.comparison
    ci = f"{100 * (1 - d.alpha):g}% CI {c.ci_low:+.4f}, {c.ci_high:+.4f}"
    return (f"{d.a} vs {d.b} on {d.measure} ({d.label}, {c.n} queries): {c.mean_a:.4f} vs {c.mean_b:.4f}, "
            f"difference {c.diff:+.4f} [{ci}], randomization p {c.rand_p:.4g}, t-test p {c.t_p:.4g}; "
            f"{d.a} wins {c.wins}, ties {c.ties}, loses {c.losses}")


def sparkline(diffs: list[float], width: int = 80) -> str:
    """The differences sorted descending, `width` buckets wide: bar height is |difference| (1 = full),
    above-zero buckets first; the sign is the colour in the terminal and '+' / '-' runs in plain text."""
    values = sorted(diffs, reverse=True)
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    buckets = [values[i:i + step] for i in range(0, len(values), step)]
    out = []
    for b in buckets:
        mean = sum(b) / len(b)
        level = min(len(BARS) - 1, int(abs(mean) * (len(BARS) - 1) + 0.5))
        out.append(" " if abs(mean) < 1e-12 else BARS[level])
    return "".join(out)


def _passage(p: Passage | None, width: int = SNIPPET) -> str:
    if p is None:
        return "–"
    grade = "not judged" if p.grade is None else f"grade {p.grade}"
    text = p.text if len(p.text) <= width else p.text[: width - 1] + "…"
    return f"[{grade}] {p.docid}" + (f": {text}" if text else "")


def _pairs(q: QueryDiff, top: int) -> list[tuple[int, Passage | None, Passage | None]]:
    def at(ps: list[Passage], i: int) -> Passage | None:
        return ps[i] if i < len(ps) else None

    return [(i + 1, at(q.a_top, i), at(q.b_top, i)) for i in range(top)]


def _heading(d: PairDetail, q: QueryDiff) -> str:
    text = f" “{q.text}”" if q.text else ""
    return (f"{q.qid}{text}: {d.a} {q.a:.4f}, {d.b} {q.b:.4f} ({q.diff:+.4f}); "
            f"{q.relevant} judged relevant")


def print_terminal(d: PairDetail, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    console.print(escape(summary(d)), soft_wrap=True)
    values = sorted(d.diffs.values(), reverse=True)
    if values:
        line = sparkline(values)
        positive = sum(v > 0 for v in values) / len(values)
        cut = round(positive * len(line))
        console.print(f"sorted per-query differences ({d.a} − {d.b}): "
                      f"[green]{escape(line[:cut])}[/green][red]{escape(line[cut:])}[/red]")
    if d.queries:
        console.print(f"\nthe {len(d.queries)} queries with the largest differences:")
    for q in d.queries:
        table = Table(title=escape(_heading(d, q)), title_justify="left", show_lines=True, expand=True)
        table.add_column("#", justify="right", width=2)
        table.add_column(escape(d.a), ratio=1, overflow="fold")
        table.add_column(escape(d.b), ratio=1, overflow="fold")
        for rank, pa, pb in _pairs(q, d.top):
            table.add_row(str(rank), escape(_passage(pa)), escape(_passage(pb)))
        console.print(table)
    for note in d.notes:
        console.print(escape(f"note: {note}"), style="yellow")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(d: PairDetail) -> str:
    lines = [f"# {d.a} vs {d.b} on {d.measure}", "", summary(d), "",
             f"Sorted per-query differences ({d.a} − {d.b}): `{sparkline(list(d.diffs.values()))}`", ""]
    for q in d.queries:
        lines += [f"## {_md(_heading(d, q))}", "", f"| # | {_md(d.a)} | {_md(d.b)} |", "|---:|---|---|"]
        lines += [f"| {rank} | {_md(_passage(pa))} | {_md(_passage(pb))} |" for rank, pa, pb in _pairs(q, d.top)]
        lines.append("")
    lines += [f"- note: {n}" for n in d.notes]
    return "\n".join(lines).rstrip() + "\n"
