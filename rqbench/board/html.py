"""The leaderboard as one self-contained HTML page: a sortable table (ranks, tie groups, means, costs) and
one inline SVG figure per measure. No external resource: inline CSS, vanilla JavaScript and SVG built by
hand; every string from the data is escaped.

Sorting: click a header (again to reverse), or open the page with `#sort=<data-sort key>&dir=asc|desc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from rqbench.board.cost import COST_FIELDS, COST_NOTE, LOAD_MARK, LOAD_NOTE, LOAD_TITLE, has_load_marks, load_marked
from rqbench.board.ties import has_two_letter_labels

if TYPE_CHECKING:
    from rqbench.board.model import Column, Leaderboard, System

DASH = "–"

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; vertical-align: top; }
th[data-sort] { cursor: pointer; background: #f4f4f4; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
small, .muted { color: #777; } sup.groups { color: #0a5; font-weight: bold; }
.about { font-size: 11px; color: #666; max-width: 28em; } .flag { color: #c50; cursor: help; }
figure { margin: 1.5em 0; } figcaption { font-weight: bold; } svg text { font: 11px sans-serif; }
"""

JS = """
(function () {
  const table = document.getElementById("board"), body = table.tBodies[0];
  const heads = Array.from(table.querySelectorAll("th[data-sort]"));
  function value(row, key) {
    const td = Array.from(row.cells).find(c => c.dataset.col === key);
    return td ? td.dataset.value : "";
  }
  function sortBy(key, dir) {
    const th = heads.find(h => h.dataset.sort === key);
    if (!th) return;
    dir = dir === "asc" || dir === "desc" ? dir : th.dataset.dir;
    const num = th.dataset.type === "num", sign = dir === "desc" ? -1 : 1;
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = value(a, key), y = value(b, key);
      if (x === "" || y === "") return (x === "") - (y === "");  // absent always last
      return sign * (num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y));
    });
    rows.forEach(r => body.appendChild(r));
    heads.forEach(h => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", dir === "desc" ? "descending" : "ascending");
  }
  heads.forEach(th => th.addEventListener("click", () => {
    const now = th.getAttribute("aria-sort");
    const dir = now ? (now === "ascending" ? "desc" : "asc") : th.dataset.dir;
    sortBy(th.dataset.sort, dir);
    try { history.replaceState(null, "", "#" + new URLSearchParams({sort: th.dataset.sort, dir})); } catch (e) {}
  }));
  const p = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
  if (p.get("sort")) sortBy(p.get("sort"), p.get("dir"));
})();
"""


def _e(x: object) -> str:
    return escape(str(x), quote=True)


def _flag(mark: str, title: str) -> str:
    return f'<span class="flag" title="{_e(title)}">{mark}</span>'


@dataclass(frozen=True)
class _Spec:
    """A table column: header group and label, sort key, and how one system's cell renders."""

    group: str  # the top header row's label; "" = one header cell spanning both rows
    label: str
    key: str  # data-sort, and the `#sort=` key
    numeric: bool
    desc: bool  # the first click sorts descending (higher is better)
    cell: Callable[[int, System], tuple[str, str]]  # (position, system) -> (data-value, inner HTML)


def _value_cell(board: Leaderboard, col: Column, s: System) -> tuple[str, str]:
    c = board.cell(s.name, col)
    if c is None:
        return "", DASH
    out = f"{c.value:.4f}"
    if c.sd is not None:
        out += f'<small class="sd"> ± {c.sd:.4f}</small>'
    if c.groups and c.paired:
        out += f'<sup class="groups">{_e(c.groups)}</sup>'
    out += f' <small class="rank" title="rank in this column">#{c.rank}</small>'
    if c.missing > 0:
        out += _flag("*", f"{c.missing} of {c.n_queries} queries have no value for this system: scored 0")
    if not c.paired:
        out += _flag("†", "no per-query values: not in the tie groups")
    return repr(float(c.value)), out


def _cost_cell(s: System, f: str) -> tuple[str, str]:
    sort, shown = _number(s.cost.get(f), ",.4g")
    if load_marked(s.cost, f):
        shown += _flag(LOAD_MARK, LOAD_TITLE)
    return sort, shown


def _system_cell(s: System) -> str:
    about = [s.description] if s.description else []
    about += [f"{k}: {v}" for k, v in s.about.items()]
    out = f'<span class="name">{_e(s.name)}</span>'
    if s.seeds:
        seeds = ", ".join(map(str, s.seeds))
        out += f' <small class="seeds" title="seeds: {_e(seeds)}">{len(s.seeds)} seeds</small>'
    if about:
        out += f'<div class="about">{" · ".join(_e(a) for a in about)}</div>'
    return out


def _number(v: float | None, fmt: str = ".4f") -> tuple[str, str]:
    return ("", DASH) if v is None else (repr(float(v)), format(v, fmt))


def _specs(board: Leaderboard) -> list[_Spec]:
    """Every table column, left to right."""
    specs = [
        _Spec("", "rank", "rank", True, False, lambda i, s: (repr(float(i + 1)), str(i + 1))),
        _Spec("", "system", "system", False, False, lambda i, s: (s.name, _system_cell(s))),
    ]
    specs += [_Spec(c.dataset, c.measure, c.label, True, True, lambda i, s, c=c: _value_cell(board, c, s))
              for c in board.columns]
    if board.has_mean():
        specs += [_Spec("mean", m, f"mean {m}", True, True,
                        lambda i, s, m=m: _number(board.means.get(m, {}).get(s.name))) for m in board.measures]
    for f in board.cost_fields():
        label, unit, higher = COST_FIELDS[f]
        specs.append(_Spec("cost", f"{label} ({unit})", f, True, higher,
                           lambda i, s, f=f: _cost_cell(s, f)))
    if any(s.hardware for s in board.systems) and board.cost_fields():
        specs.append(_Spec("", "hardware", "hardware", False, False,
                           lambda i, s: (s.hardware, _e(s.hardware) or DASH)))
    return specs


def _th(spec: _Spec, board: Leaderboard, rowspan: int = 1) -> str:
    span = f' rowspan="{rowspan}"' if rowspan > 1 else ""
    aria = ' aria-sort="descending"' if spec.key == board.sort_key else ""
    return (f'<th{span} data-sort="{_e(spec.key)}" data-type="{"num" if spec.numeric else "text"}" '
            f'data-dir="{"desc" if spec.desc else "asc"}"{aria} title="sort by {_e(spec.key)}">{_e(spec.label)}</th>')


def _table(board: Leaderboard) -> str:
    specs = _specs(board)
    top, second = [], []
    for i, spec in enumerate(specs):
        if not spec.group:
            top.append(_th(spec, board, rowspan=2))
            continue
        if i == 0 or specs[i - 1].group != spec.group:  # a run of columns sharing a group: one spanning cell
            n = next((j for j in range(i, len(specs)) if specs[j].group != spec.group), len(specs)) - i
            top.append(f'<th colspan="{n}">{_e(spec.group)}</th>')
        second.append(_th(spec, board))
    rows = []
    for i, s in enumerate(board.systems):
        tds = []
        for spec in specs:
            value, inner = spec.cell(i, s)
            cls = ' class="num"' if spec.numeric else ""
            tds.append(f'<td{cls} data-col="{_e(spec.key)}" data-value="{_e(value)}">{inner}</td>')
        rows.append(f'<tr data-system="{_e(s.name)}">{"".join(tds)}</tr>')
    return (f'<table id="board"><thead><tr>{"".join(top)}</tr><tr>{"".join(second)}</tr></thead>\n'
            f'<tbody>\n{chr(10).join(rows)}\n</tbody></table>')


def _bar_chart(board: Leaderboard, col: Column) -> str:
    """A horizontal bar chart of one column: a bar per system, labelled with its name and tie groups."""
    width, left, right, row = 620, 220, 70, 20
    cells = [(s.name, board.cell(s.name, col)) for s in board.systems]
    top = max([1.0, *(c.value for _, c in cells if c)])
    height = 40 + row * len(cells)

    def x(v: float) -> float:
        return left + max(v, 0.0) / top * (width - left - right)

    out = [f'<svg width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(col.label)}">',
           f'<text x="{left}" y="12" font-weight="bold">{_e(col.dataset)}</text>']
    for i, (name, c) in enumerate(cells):
        y = 20 + i * row
        short = name if len(name) <= 30 else name[:29] + "…"
        groups = f' <tspan fill="#0a5">{_e(c.groups)}</tspan>' if c and c.groups and c.paired else ""
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end"><title>{_e(name)}</title>'
                   f"{_e(short)}{groups}</text>")
        if c is None:
            out.append(f'<text x="{left + 4}" y="{y + 14}" fill="#999">{DASH}</text>')
        else:
            out.append(f'<rect x="{left}" y="{y + 4}" width="{x(c.value) - left:.1f}" height="{row - 8}" '
                       f'fill="#5b8dd6"/><text x="{x(c.value) + 4:.1f}" y="{y + 14}">{c.value:.4f}</text>')
    base = 20 + row * len(cells)
    out.append(f'<line x1="{left}" x2="{x(top):.1f}" y1="{base}" y2="{base}" stroke="#999"/>')
    for k in range(5):
        v = top * k / 4
        out.append(f'<text x="{x(v):.1f}" y="{base + 14}" text-anchor="middle" fill="#777">{v:g}</text>')
    return "".join(out) + "</svg>"


def _figures(board: Leaderboard) -> str:
    figs = []
    for m in board.measures:
        charts = "<br>".join(_bar_chart(board, c) for c in board.columns if c.measure == m)
        figs.append(f'<figure class="measure-figure" data-measure="{_e(m)}">{charts}<figcaption>{_e(m)} on each '
                    f"evaluation set; green letters: tie groups</figcaption></figure>")
    return "\n".join(figs)


def _quality(board: Leaderboard, s: System) -> float | None:
    """The system's value on the sort key (a column or a mean)."""
    if board.sort_key.startswith("mean "):
        return board.means.get(board.sort_key[5:], {}).get(s.name)
    col = next((c for c in board.columns if c.label == board.sort_key), None)
    cell = board.cell(s.name, col) if col else None
    return cell.value if cell else None


def _cost_figure(board: Leaderboard) -> str:
    """Quality (the sort key) against the first cost field that two or more systems have with a value."""
    for f in board.cost_fields():
        pts = [(s.cost[f], q, s.name) for s in board.systems if f in s.cost and (q := _quality(board, s)) is not None]
        if len(pts) >= 2:
            break
    else:
        return ""
    label, unit, _ = COST_FIELDS[f]
    log = unit == "s" and all(p[0] > 0 for p in pts)
    tx = [math.log10(p[0]) if log else p[0] for p in pts]
    lo, hi = (min(tx), max(tx)) if log else (0.0, max(tx))
    lo, hi = (lo - 0.5, hi + 0.5) if log else (lo, hi or 1.0)
    top = max(1.0, *(p[1] for p in pts))
    w, h, pad = 560, 300, 50

    def xy(t: float, q: float) -> tuple[float, float]:
        return pad + (t - lo) / (hi - lo) * (w - 2 * pad), h - pad - q / top * (h - 2 * pad)

    out = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">',
           f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" stroke="#ccc"/>']
    for t, (_, q, name) in zip(tx, pts, strict=True):
        px, py = xy(t, q)
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="#d65b5b"><title>{_e(name)}</title></circle>'
                   f'<text x="{px + 6:.1f}" y="{py - 6:.1f}">{_e(name)}</text>')
    ticks = range(math.ceil(lo), math.floor(hi) + 1) if log else [lo, hi / 2, hi]
    for t in ticks:
        out.append(f'<text x="{xy(t, 0)[0]:.1f}" y="{h - pad + 14}" text-anchor="middle" fill="#777">'
                   f"{10.0**t if log else t:g}</text>")
    out.append(f'<text x="{w / 2}" y="{h - 10}" text-anchor="middle">{_e(label)} ({_e(unit)}'
               f'{", log scale" if log else ""})</text><text x="10" y="{pad - 10}">{_e(board.sort_key)} '
               f"(0 to {top:g})</text></svg>")
    return (f'<figure class="cost-figure">{"".join(out)}<figcaption>quality vs cost: {_e(board.sort_key)} '
            f"against {_e(label)}</figcaption></figure>")


def _list(title: str, items: list[str]) -> str:
    if not items:
        return ""
    return f"<h2>{_e(title)}</h2><ul>{''.join(f'<li>{_e(i)}</li>' for i in items)}</ul>"


def to_html(board: Leaderboard) -> str:
    """One self-contained HTML page: header, sortable table, notes and conflicts, SVG figures."""
    header = (
        f"<p>Evaluation sets: {_e(', '.join(board.datasets))}. Measures: {_e(', '.join(board.measures))}. "
        f"Test: paired {_e(board.test)}, {_e(board.correction)} correction, alpha {board.alpha:g}. "
        f"{_e(board.order_sentence)}</p>"
        f'<p class="muted">Systems that share a letter in a column are not significantly different (paired '
        f"{_e(board.test)} test over the column's queries, {_e(board.correction)}-corrected over the column's "
        f"pairs, alpha {board.alpha:g}). Click a header to sort; <span class=\"flag\">*</span>: queries with no "
        f'value, scored 0; <span class="flag">†</span>: no per-query values.'
        + (" Past 26 groups the labels have two letters, separated by '.'."
           if has_two_letter_labels(c.groups for c in board.cells.values()) else "") + "</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>rqbench leaderboard</title><style>{CSS}</style></head>\n<body>"
        f"<h1>rqbench leaderboard</h1>{header}\n{_table(board)}\n"
        + (f'<p class="muted">{_e(COST_NOTE)}</p>' if board.cost_fields() else "")
        + (f'<p class="muted">{_e(LOAD_NOTE)}</p>' if has_load_marks(board) else "")
        + f"{_list('Notes', board.notes)}{_list('Conflicts', board.conflicts)}\n"
        f"<h2>Figures</h2>\n{_figures(board)}\n{_cost_figure(board)}\n"
        f"<script>{JS}</script></body></html>\n"
    )
