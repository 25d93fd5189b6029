"""The leaderboard's row order, defined and stated in the legend.

One measure orders the rows (the first one asked for, or the one `--sort` names). The key: its mean over
the evaluation sets when every row has every set (or when `--sort` names the measure); else its column on
one evaluation set (the one `--sort` names, or by default the set with the most rows). Rows without the
key follow, ordered by the same measure on the set with the most of them, then on the next, and so on
(values on different evaluation sets are never compared with each other); rows with none of these last,
by name. A mean over whatever sets a row happens to have is never a key: it would mix easy and hard sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from rqbench.board.model import Cell, Column, System
from rqbench.errors import RqbenchError, did_you_mean


@dataclass(frozen=True)
class Order:
    key: str  # Leaderboard.sort_key: a column label or "mean <measure>"
    names: list[str]  # the system names in order
    note: str  # the sentence that states the order


def order_rows(systems: dict[str, System], columns: list[Column], cells: dict[tuple[str, Column], Cell],
               means: dict[str, dict[str, float]], sort: str | None) -> Order:
    """The rows' order by `sort` (a measure, a column "dataset measure", an evaluation set, or None for the
    default described in the module docstring)."""
    datasets = list(dict.fromkeys(c.dataset for c in columns))
    target = _default_target(systems, columns, cells, means, datasets) if sort is None else \
        _sort_target(sort, columns, list(means), datasets)

    def value(name: str) -> float | None:
        if isinstance(target, str):
            return means[target].get(name)
        cell = cells.get((name, target))
        return cell.value if cell else None

    keyed = {n: v for n in systems if (v := value(n)) is not None}
    measure = target if isinstance(target, str) else target.measure
    cascade = _cascade([c for c in columns if c.measure == measure and c != target], set(systems) - set(keyed),
                       cells)
    step = {n: (i, column) for i, (column, hit) in enumerate(cascade, start=1) for n in hit}

    def key(name: str) -> tuple:
        if name in keyed:
            return (0, -keyed[name], name)
        if name in step:
            i, column = step[name]
            return (i, -cells[(name, column)].value, name)
        return (len(cascade) + 1, 0.0, name)

    names = sorted(systems, key=key)
    return Order(key=f"mean {target}" if isinstance(target, str) else target.label, names=names,
                 note=_note(target, sort is None, len(keyed), len(names), cascade))


def _default_target(systems: dict[str, System], columns: list[Column], cells: dict[tuple[str, Column], Cell],
                    means: dict[str, dict[str, float]], datasets: list[str]) -> Column | str:
    """The first measure's mean when every row has it (over two or more sets), else its column with the most
    rows (the first such)."""
    measure = next(iter(means))
    if len(datasets) > 1 and set(systems) <= set(means[measure]):
        return measure
    mine = [c for c in columns if c.measure == measure]
    return max(mine, key=lambda c: (sum((n, c) in cells for n in systems), -mine.index(c)))


def _cascade(candidates: list[Column], pool: set[str],
             cells: dict[tuple[str, Column], Cell]) -> list[tuple[Column, set[str]]]:
    """The rows without the key, in blocks: those on the column holding the most of them, then of the rest
    those on the column holding the most of those, and so on (ties: the earlier column)."""
    out: list[tuple[Column, set[str]]] = []
    candidates = list(candidates)
    while pool and candidates:
        best = max(candidates, key=lambda c: (sum((n, c) in cells for n in pool), -candidates.index(c)))
        hit = {n for n in pool if (n, best) in cells}
        if not hit:
            break
        out.append((best, hit))
        pool = pool - hit
        candidates.remove(best)
    return out


def _note(target: Column | str, default: bool, n_keyed: int, n_rows: int,
          cascade: list[tuple[Column, set[str]]]) -> str:
    """'Ordered by nDCG@10 on scifact (test), the evaluation set with the most systems (23 of 46); the 23
    without it follow, by nDCG@10 on dl19 (dl19) (12), then on vaswani (test) (9); 2 with none of these by
    name.'"""
    if isinstance(target, str):
        text, measure = f"Ordered by mean {target} over the evaluation sets", target
    else:
        text, measure = f"Ordered by {target.measure} on {target.dataset}", target.measure
        if default and n_keyed < n_rows:
            text += f", the evaluation set with the most systems ({n_keyed} of {n_rows})"
    left = n_rows - n_keyed
    if not left:
        return text + "."
    text += f"; the {left} without {'every set' if isinstance(target, str) else 'it'} follow"
    if cascade:
        text += f", by {measure} " + ", then ".join(f"on {c.dataset} ({len(hit)})" for c, hit in cascade)
    remaining = left - sum(len(hit) for _, hit in cascade)
    if remaining:
        text += f"; {remaining} with none of these by name" if cascade else ", by name"
    return text + "."


def _sort_target(sort: str, columns: list[Column], measures: list[str], datasets: list[str]) -> Column | str:
    """A column label, a measure (its mean with several evaluation sets) or an evaluation set ("name" or
    "name (split)": the first measure's column there)."""
    labels = {c.label: c for c in columns}
    if sort in labels:
        return labels[sort]
    sets = [d for d in datasets if sort in (d, d.split(" (")[0], d.split(" [")[0])]
    if len(sets) > 1:
        raise RqbenchError(f"cannot sort by '{sort}': it names {len(sets)} evaluation sets ("
                           + ", ".join(f"'{d}'" for d in sets) + "); name one")
    if sets:
        mine = [c for c in columns if c.dataset == sets[0]]
        return next((c for c in mine if c.measure == measures[0]), mine[0])
    from rqbench.measures import parse_measure

    try:
        name = str(parse_measure(sort))
    except RqbenchError:
        name = sort
    if name in measures:
        return name if len(datasets) > 1 else next(c for c in columns if c.measure == name)
    raise RqbenchError(f"cannot sort by '{sort}': not a measure, evaluation set or column of this leaderboard"
                       + did_you_mean(sort, [*measures, *datasets, *labels]))
