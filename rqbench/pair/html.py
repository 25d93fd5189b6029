"""One self-contained HTML page for a `PairDetail`: the summary of A against B, every query's difference as
an inline SVG (sorted, green where A wins, red where B does) and, for the queries that differ most, both
systems' top passages side by side. Inline CSS and SVG only: no script, no external resource."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rqbench.pair.detail import PairDetail, Passage, QueryDiff

EPS = 1e-12  # differences within EPS of 0 are ties (as in rqbench.stats)
TRUNCATE = 400  # characters of a passage shown before "more"
# the SVG plot: size and margins in px; widest bar, so that few queries do not make one huge block
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM, MAX_BAR = 720, 260, 64, 16, 14, 40, 40

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin: 0 0 .3em; }
.label, .muted { color: #666; } .summary { background: #f5f5f5; padding: .6em .8em; border-radius: 6px; }
.diff-figure { margin: 1.2em 0; } .diff-figure figcaption { color: #444; font-size: .95em; }
.diff-figure svg { max-width: 100%; height: auto; } .pos { fill: #2e9e4f; } .neg { fill: #d0443e; }
.axis { stroke: #333; stroke-width: 1; } .mean { stroke: #555; stroke-dasharray: 4 3; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
.query { border-top: 1px solid #ddd; padding: 1em 0; } .qtext { font-size: 1.05em; margin: .2em 0; }
.side-by-side { border-collapse: collapse; width: 100%; table-layout: fixed; }
.side-by-side th, .side-by-side td { border: 1px solid #ddd; padding: .4em .5em; vertical-align: top; }
.side-by-side td { text-align: left; }
.side-by-side th.rank { width: 3em; text-align: center; } .missing { color: #999; text-align: center; }
.grade { display: inline-block; padding: 0 .45em; border-radius: 9px; font-size: .85em; margin-right: .4em; }
.g-none { background: #e4e4e4; } .g0 { background: #f6d5d3; } .g1 { background: #fbeeb8; }
.g2 { background: #c9ebcf; } .g3 { background: #8fd19e; } .docid { font-size: .85em; color: #555; }
.text { margin-top: .3em; } details summary { cursor: pointer; }
"""


def to_html(detail: PairDetail) -> str:
    """The whole page for `detail`, as one string."""
    title = f"{detail.a} vs {detail.b} on {detail.measure}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="label">qrels: {escape(detail.label)}</p>',
        _summary(detail),
        _figure(detail),
        *(_section(detail, q) for q in detail.queries),
        _notes(detail.notes),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _p(p: float) -> str:
    """A p-value, short."""
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _summary(detail: PairDetail) -> str:
    """Means, the mean difference with its CI, both p-values, win/tie/loss and n."""
    c = detail.comparison
    a, b = escape(detail.a), escape(detail.b)
    return (
        f'<p class="summary">mean {a}: <b>{c.mean_a:.4f}</b> · mean {b}: <b>{c.mean_b:.4f}</b> · '
        f'difference <b>{c.diff:+.4f}</b> ({100 * (1 - detail.alpha):g}% CI {c.ci_low:+.4f} to {c.ci_high:+.4f}) · '
        f"randomization p = {_p(c.rand_p)} · t-test p = {_p(c.t_p)} · "
        f'for {a}: <span class="wins">{c.wins}</span> wins / <span class="ties">{c.ties}</span> ties / '
        f'<span class="losses">{c.losses}</span> losses · <span class="n">{c.n}</span> queries</p>'
    )


def _figure(detail: PairDetail) -> str:
    """Every query's a − b, sorted descending, as an inline SVG bar plot in a figure with its caption."""
    c = detail.comparison
    values = sorted(detail.diffs.values(), reverse=True)
    caption = (f"{escape(detail.a)} − {escape(detail.b)} on {escape(detail.measure)} for each of the "
               f"{len(values)} judged queries, sorted: {c.wins} wins, {c.ties} ties, {c.losses} losses for "
               f"{escape(detail.a)}; mean difference {c.diff:+.4f}.")
    svg = _svg(values, c.diff, f"{detail.a} − {detail.b} ({detail.measure})")
    return (f'<figure class="diff-figure">\n{svg}\n'
            f"<figcaption>{caption}</figcaption></figure>")


def _svg(values: list[float], mean: float, y_label: str) -> str:
    """The bars (one per value, already sorted), a zero line, the mean as a dashed line and axis labels."""
    hi, lo = max([*values, 0.0]), min([*values, 0.0])
    if hi - lo <= EPS:  # no query differs (or none at all): an empty plot around 0
        hi, lo = 1.0, -1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar = min(plot_w / max(len(values), 1), MAX_BAR)

    def y(v: float) -> float:
        return TOP + (hi - v) / (hi - lo) * plot_h

    zero = y(0.0)
    out = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" aria-label="per-query differences, sorted">']
    for i, v in enumerate(values):
        if abs(v) > EPS:
            top, height = (y(v), zero - y(v)) if v > 0 else (zero, y(v) - zero)
            out.append(f'<rect class="{"pos" if v > 0 else "neg"}" x="{LEFT + i * bar:.2f}" y="{top:.2f}" '
                       f'width="{max(bar * 0.92, 0.6):.2f}" height="{max(height, 0.5):.2f}"/>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero:.2f}" y2="{zero:.2f}"/>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>')
    if values and abs(mean) > EPS:
        out.append(f'<line class="mean" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(mean):.2f}" y2="{y(mean):.2f}">'
                   f"<title>mean {mean:+.4f}</title></line>")
    for v in sorted({hi, 0.0, lo}):
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.2f}" text-anchor="end">{v:+.2f}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">'
               f"queries, sorted by difference ({len(values)})</text>")
    out.append(f'<text transform="translate(14 {TOP + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">'
               f"{escape(y_label)}</text>")
    return "\n".join(out) + "\n</svg>"


def _section(detail: PairDetail, q: QueryDiff) -> str:
    """One query: id, text, both values and the difference, then the passages side by side."""
    text = f'<p class="qtext">{escape(q.text)}</p>' if q.text else ""
    a, b = escape(detail.a), escape(detail.b)
    values = (f'<p class="values">{a}: {q.a:.4f} · {b}: {q.b:.4f} · difference <b>{q.diff:+.4f}</b> · '
              f"{q.relevant} judged relevant passages</p>")
    head = f'<thead><tr><th class="rank">rank</th><th>{a}</th><th>{b}</th></tr></thead>'
    rows = [_row(rank, q.a_top, q.b_top) for rank in range(1, detail.top + 1)]
    return (f'<section class="query" data-qid="{escape(q.qid)}">\n<h2>query {escape(q.qid)}</h2>{text}{values}\n'
            f'<table class="side-by-side">{head}<tbody>\n' + "\n".join(rows) + "\n</tbody></table></section>")


def _row(rank: int, a_top: list[Passage], b_top: list[Passage]) -> str:
    """One rank: A's passage on the left, B's on the right ("–" where a ranking is shorter)."""
    cells = "".join(_cell(top[rank - 1] if rank <= len(top) else None) for top in (a_top, b_top))
    return f'<tr><th class="rank" scope="row">{rank}</th>{cells}</tr>'


def _cell(p: Passage | None) -> str:
    """A passage: grade badge, docid and (possibly truncated) text; a dash for none."""
    if p is None:
        return '<td class="passage missing">–</td>'
    if p.grade is None:
        badge = '<span class="grade g-none">not judged</span>'
    else:
        badge = f'<span class="grade g{min(max(p.grade, 0), 3)}">grade {p.grade}</span>'
    return f'<td class="passage">{badge}<code class="docid">{escape(p.docid)}</code>{_text(p.text)}</td>'


def _text(text: str) -> str:
    """The passage's text; past TRUNCATE characters the start, and the whole in a <details>."""
    if not text:
        return ""
    if len(text) <= TRUNCATE:
        return f'<div class="text">{escape(text)}</div>'
    short = text[:TRUNCATE].rsplit(" ", 1)[0] or text[:TRUNCATE]
    return (f'<details class="text"><summary>{escape(short)} …</summary>'
            f"<div>{escape(text)}</div></details>")


def _notes(notes: list[str]) -> str:
    """The notes as a list, if any."""
    if not notes:
        return ""
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return f'<section class="notes"><h2>notes</h2><ul>{items}</ul></section>'
