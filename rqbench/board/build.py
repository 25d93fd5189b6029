"""A Leaderboard from records of any number of suites (or from run files' record-like dicts).

Systems. Each suite contributes, per evaluation set, its newest record of each variant; the seeds of a
multi-seed arm become one system, the arm, whose per-query values are the means over its seeds (as the
suite's report shows it). A system is its name plus what it evaluated: the run's hash (for an arm, its
seeds' runs). Two suites whose systems of one name evaluated the same run on the same evaluation set share
one cell; different runs are a conflict: each suite's is shown as its own row "name (suite)", listed
under the table, never silently overwritten.

Columns and alignment. A column is one measure on one evaluation set "dataset (split)", identified by its
qrels' fingerprint too: two suites' splits of one name with different qrels (a "probe" split drawn with
another seed) are different columns, labelled with their suite. In a column every system is averaged over
the same queries, the union of those any system has: a query a system has no value for scores 0, and it
is counted (`Cell.missing`) and noted, never dropped.

Tie groups: `rqbench.board.ties` over each column's paired systems.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rqbench.board.cost import record_cost, record_hardware
from rqbench.board.model import Cell, Column, Leaderboard, System
from rqbench.board.order import order_rows
from rqbench.board.ties import tie_groups
from rqbench.errors import RqbenchError, did_you_mean
from rqbench.records import load_per_query
from rqbench.report.model import latest_by_eval_set
from rqbench.report.seeds import aggregate_set, arm_of

EPS = 1e-12


@dataclass
class _Entry:
    """One system's newest record on one evaluation set in one suite (an arm: its seed-averaged record)."""

    suite: str
    name: str
    run: str | None
    dataset: str  # "name (split)"
    qrels: str | None
    record: dict[str, Any]
    seeds: tuple[Any, ...] = ()
    sd: dict[str, float] = field(default_factory=dict)
    same_as: Any = None  # the run key of another suite's entry with identical per-query values (`_merge_identical`)
    loaded: dict[str, Any] | None = None  # its per-query values once read (measure -> qid -> value)


@dataclass(frozen=True)
class Options:
    measures: Sequence[str] | None = None  # None: nDCG@10 where records have it, else their first measure
    datasets: Sequence[str] | None = None  # keep these evaluation sets ("name" or "name (split)")
    sort: str | None = None  # a measure (its mean), an evaluation set or a column; None: `rqbench.board.order`
    alpha: float = 0.05
    test: str = "randomization"
    correction: str = "holm"
    n_resamples: int = 10000
    seed: int = 0
    cost: bool = False  # show the cost columns (training, indexing, search) where records have them


def build_leaderboard(records: Sequence[dict[str, Any]], options: Options | None = None) -> Leaderboard:
    """The leaderboard of `records` (as `read_records` or `records_from_runs` give them)."""
    options = options or Options()
    if not records:
        raise RqbenchError("no records to rank")
    from rqbench.report.significance import check_options

    check_options(options.test, options.correction, "baseline")
    if not 0.0 < options.alpha < 1.0:
        raise RqbenchError(f"alpha must be between 0 and 1, got {options.alpha}")
    notes: list[str] = []
    entries = _entries(records, notes)
    entries = _label_datasets(entries, notes)
    entries = _filter_datasets(entries, options.datasets)
    measures = _measures(entries, options.measures)
    _merge_identical(entries, measures, notes)
    entries, conflicts = _resolve_conflicts(entries)
    columns = [Column(ds, m) for ds in dict.fromkeys(e.dataset for e in entries) for m in measures
               if any(m in (e.record.get("metrics") or {}) for e in entries if e.dataset == ds)]
    cells: dict[tuple[str, Column], Cell] = {}
    for column in columns:
        cells.update(_column_cells(column, [e for e in entries if e.dataset == column.dataset], options, notes))
    systems = _systems(entries, columns, cells)
    means = _means(systems, columns, cells)
    order = order_rows(systems, columns, cells, means, options.sort)
    return Leaderboard(columns=columns, systems=[systems[n] for n in order.names], cells=cells, means=means,
                       sort_key=order.key, order_note=order.note, alpha=options.alpha, test=options.test,
                       correction=options.correction,
                       notes=list(dict.fromkeys(notes)), conflicts=conflicts,
                       show_cost=options.cost)


def _entries(records: Sequence[dict[str, Any]], notes: list[str]) -> list[_Entry]:
    by_suite: dict[str, list[dict[str, Any]]] = {}
    for rec in sorted(records, key=lambda r: str(r.get("created") or "")):  # stable: newest last per suite
        by_suite.setdefault(str(rec.get("suite") or "?"), []).append(rec)
    out: list[_Entry] = []
    for suite, recs in by_suite.items():
        for group in latest_by_eval_set(recs).values():
            arm_runs: dict[str, list[str]] = {}
            for rec in group.values():
                if arm_of(rec):
                    arm_runs.setdefault(arm_of(rec), []).append(str(_run_of(rec) or "?"))
            folded, info = aggregate_set(group, notes)
            for name, rec in folded.items():
                ds = rec.get("dataset") or {}
                label = f"{ds.get('name')} ({ds['split']})" if ds.get("split") else str(ds.get("name"))
                seeded = name in info
                out.append(_Entry(
                    suite=suite, name=name if seeded else _system_name(rec),
                    run="seeds:" + ",".join(sorted(arm_runs[name])) if seeded else _run_of(rec),
                    dataset=label, qrels=(ds.get("fingerprints") or {}).get("qrels"), record=rec,
                    seeds=tuple(info[name]["seeds"]) if seeded else (),
                    sd=dict(info[name]["sd"]) if seeded else {}))
    return out


def _system_name(record: dict[str, Any]) -> str:
    return str((record.get("system") or {}).get("name") or record["variant"])


def _run_of(record: dict[str, Any]) -> str | None:
    run = (record.get("system") or {}).get("run") or (record.get("artifact_hashes") or {}).get("retrieve")
    return str(run) if run else None


def _label_datasets(entries: list[_Entry], notes: list[str]) -> list[_Entry]:
    """Evaluation sets of one label with different qrels become columns labelled by their suites."""
    for label in dict.fromkeys(e.dataset for e in entries):
        same = [e for e in entries if e.dataset == label]
        versions = list(dict.fromkeys(e.qrels for e in same))
        if len(versions) < 2:
            continue
        tags = {v: ", ".join(sorted({e.suite for e in same if e.qrels == v})) for v in versions}
        if len(set(tags.values())) < len(tags):  # one suite holds two versions: the fingerprint tells them apart
            tags = {v: f"{tag}, qrels {str(v)[:8]}" for v, tag in tags.items()}
        for e in same:
            e.dataset = f"{label} [{tags[e.qrels]}]"
        notes.append(f"'{label}' has different qrels in different suites: one column per version, labelled "
                     "with its suites")
    return entries


def _filter_datasets(entries: list[_Entry], wanted: Sequence[str] | None) -> list[_Entry]:
    if not wanted:
        return entries
    labels = list(dict.fromkeys(e.dataset for e in entries))
    keep: set[str] = set()
    for w in wanted:
        hits = [label for label in labels if label == w or label.split(" (")[0] == w or label.split(" [")[0] == w]
        if not hits:
            raise RqbenchError(f"no records for dataset '{w}'" + did_you_mean(w, labels))
        keep.update(hits)
    return [e for e in entries if e.dataset in keep]


def _measures(entries: list[_Entry], wanted: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(m for e in entries for m in (e.record.get("metrics") or {})))
    if not present:
        raise RqbenchError("no record has any measure")
    if not wanted:
        return ["nDCG@10"] if "nDCG@10" in present else present[:1]
    from rqbench.measures import parse_measure

    out = []
    for w in wanted:
        name = str(parse_measure(w))  # aliases (MRR@10) name what records store (RR@10)
        if name not in present:
            raise RqbenchError(f"no record has measure '{w}'" + did_you_mean(name, present))
        out.append(name)
    return list(dict.fromkeys(out))


def _run_key(e: _Entry) -> Any:
    """What an entry evaluated; an unidentified run is the same as nothing else but its own suite's."""
    if e.same_as is not None:
        return e.same_as
    return e.run if e.run is not None else ("?", e.suite)


def _merge_identical(entries: list[_Entry], measures: list[str], notes: list[str]) -> None:
    """Entries of one name on one evaluation set whose runs differ in hash (a published run imported by two
    suites with other import options) but whose per-query values are identical, for every shown measure both
    have, evaluated the same run: they share a row, never reported as a conflict."""
    groups: dict[tuple[str, str], list[_Entry]] = {}
    for e in entries:
        groups.setdefault((e.name, e.dataset), []).append(e)
    for (name, dataset), group in groups.items():
        if len({_run_key(e) for e in group}) < 2:
            continue
        seen: list[tuple[_Entry, dict[str, dict[str, float]]]] = []
        merged: set[str] = set()
        for e in group:
            mine = {m: pq for m in measures if (pq := _per_query(e, m, [])) is not None}
            twin = next((other for other, theirs in seen if _run_key(other) != _run_key(e)
                         and _identical(mine, theirs)), None)
            if twin is None:
                seen.append((e, mine))
                continue
            merged |= {twin.suite, e.suite}
            e.same_as = _run_key(twin)
        if merged:
            suites = ", ".join(f"'{x}'" for x in sorted(merged))
            notes.append(f"'{name}' on {dataset}: runs of other hashes in {suites} give identical per-query values: "
                         "one row")


def _identical(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> bool:
    shared = set(a) & set(b)
    return bool(shared) and all(a[m] == b[m] for m in shared)


def _resolve_conflicts(entries: list[_Entry]) -> tuple[list[_Entry], list[str]]:
    """One entry per (row, evaluation set). A name that evaluated one run per evaluation set across its
    suites is one row. A name whose suites evaluated different runs on one set is split: its suites are
    grouped (in name order, each joining the group it agrees with on the most sets, at least one, never a
    group it disagrees with), each group a row "name (first suite)" or "name (first suite +n)"; the
    conflicts are listed. Suites sharing a run share its cell, every one credited."""
    lines: list[str] = []
    by_name: dict[str, list[_Entry]] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    order = {id(e): i for i, e in enumerate(entries)}
    out: list[tuple[int, _Entry]] = []
    for name, group in by_name.items():
        conflicted = _conflict_lines(name, group)
        lines += conflicted
        suites = sorted({e.suite for e in group})
        signature = {s: {e.dataset: _run_key(e) for e in group if e.suite == s} for s in suites}
        rows = [(suites, {})] if not conflicted else _group_suites(suites, signature)
        for members, _ in rows:
            label = name if len(rows) == 1 else \
                f"{name} ({members[0]}{f' +{len(members) - 1}' if len(members) > 1 else ''})"
            mine = [e for e in group if e.suite in members]
            for dataset in dict.fromkeys(e.dataset for e in mine):
                cell = [e for e in mine if e.dataset == dataset]
                keeper = min(cell, key=lambda e: e.suite)
                credited = ", ".join(sorted({e.suite for e in cell}))
                out.append((order[id(keeper)], dataclasses.replace(keeper, name=label, suite=credited)))
    return [e for _, e in sorted(out, key=lambda item: item[0])], lines


def _conflict_lines(name: str, group: list[_Entry]) -> list[str]:
    lines = []
    for dataset in dict.fromkeys(e.dataset for e in group):
        by_run: dict[Any, list[str]] = {}
        for e in group:
            if e.dataset == dataset:
                by_run.setdefault(_run_key(e), []).append(e.suite)
        if len(by_run) > 1:
            listed = "; ".join(f"run {run[:12] if isinstance(run, str) else 'unknown'} in "
                               + ", ".join(f"'{x}'" for x in sorted(members)) for run, members in by_run.items())
            lines.append(f"'{name}' on {dataset} evaluated different runs: {listed}")
    return lines


def _group_suites(suites: list[str], signature: dict[str, dict[str, Any]]) -> list[tuple[list[str], dict[str, Any]]]:
    """Suites into rows: each joins the row it agrees with on the most evaluation sets (at least one,
    none in disagreement), else starts its own."""
    rows: list[tuple[list[str], dict[str, Any]]] = []
    for suite in suites:
        mine = signature[suite]
        best, agree = None, 0
        for row in rows:
            shared = set(row[1]) & set(mine)
            if all(row[1][d] == mine[d] for d in shared) and len(shared) > agree:
                best, agree = row, len(shared)
        if best is None:
            rows.append(([suite], dict(mine)))
        else:
            best[0].append(suite)
            best[1].update(mine)
    return rows


def _per_query(entry: _Entry, measure: str, notes: list[str]) -> dict[str, float] | None:
    rec = entry.record
    try:
        if entry.loaded is None:  # read once: the tie groups and `_merge_identical` both need it
            entry.loaded = rec["per_query"] if "per_query" in rec else (
                load_per_query(rec) if rec.get("per_query_file") and rec.get("_path") else {})
    except RqbenchError as exc:
        notes.append(f"'{entry.name}' ({entry.suite}): {exc.one_line()}; its mean is shown, outside the tie groups")
        return None
    values = entry.loaded
    if values is None or measure not in values:
        return None
    return {str(q): float(v) for q, v in values[measure].items()}


def _column_cells(column: Column, entries: list[_Entry], options: Options,
                  notes: list[str]) -> dict[tuple[str, Column], Cell]:
    have = [e for e in entries if column.measure in (e.record.get("metrics") or {})]
    per_query = {e.name: pq for e in have if (pq := _per_query(e, column.measure, notes)) is not None}
    queries = sorted({q for pq in per_query.values() for q in pq})
    aligned = {name: {q: pq.get(q, 0.0) for q in queries} for name, pq in per_query.items()}
    values: dict[str, float] = {}
    for e in have:
        if e.name in aligned and queries:
            values[e.name] = statistics.fmean(aligned[e.name].values())
        else:
            values[e.name] = float(e.record["metrics"][column.measure])
            if e.name not in per_query:
                notes.append(f"'{e.name}' has no per-query values for {column.label}: its mean is shown, "
                             "outside the tie groups")
    unanswered = {e.name: set(e.record.get("unanswered") or ()) for e in have}  # run files: scored 0 already
    missing_of = {name: len(queries) - len(pq) + len(unanswered.get(name, set()) & set(pq))
                  for name, pq in per_query.items()}
    for name, missing in missing_of.items():
        if missing:
            notes.append(f"'{name}' has no value for {missing} of the {len(queries)} queries of {column.dataset}: "
                         "they score 0")
    ordered = sorted(values, key=lambda n: -values[n])
    paired = [n for n in ordered if n in aligned]
    letters = tie_groups(aligned, paired, column.measure, alpha=options.alpha, test=options.test,
                         correction=options.correction, n_resamples=options.n_resamples, seed=options.seed) \
        if paired and queries else {}
    sd = {e.name: e.sd.get(column.measure) for e in have if e.seeds}
    out = {}
    for name in ordered:
        rank = 1 + sum(values[o] > values[name] + EPS for o in ordered)
        out[(name, column)] = Cell(
            value=values[name], rank=rank, groups=letters.get(name, ""), n_queries=len(queries),
            missing=missing_of.get(name, 0),
            sd=sd.get(name), paired=name in aligned)
    return out


def _systems(entries: list[_Entry], columns: list[Column], cells: dict[tuple[str, Column], Cell]) -> dict[str, System]:
    datasets = list(dict.fromkeys(c.dataset for c in columns))
    out: dict[str, System] = {}
    by_name: dict[str, list[_Entry]] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    for name, group in by_name.items():
        if not any((name, c) in cells for c in columns):
            continue
        group.sort(key=lambda e: datasets.index(e.dataset) if e.dataset in datasets else len(datasets))
        first = group[0].record
        system = first.get("system") or {}
        suites = tuple(dict.fromkeys(s for e in group for s in e.suite.split(", ")))
        out[name] = System(name=name, suites=suites, backend=str(first.get("backend") or ""),
                           description=str(system.get("description") or ""), about=dict(system.get("about") or {}),
                           seeds=group[0].seeds, cost=(cost := record_cost(first)),
                           hardware=record_hardware(first) if cost else "")
    return out


def _means(systems: dict[str, System], columns: list[Column],
           cells: dict[tuple[str, Column], Cell]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for measure in dict.fromkeys(c.measure for c in columns):
        mine = [c for c in columns if c.measure == measure]
        out[measure] = {name: statistics.fmean(cells[(name, c)].value for c in mine)
                        for name in systems if all((name, c) in cells for c in mine)}
    return out
