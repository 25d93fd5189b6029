"""Multi-seed arms: one synthetic record per arm, averaged over its seeds, in place of the seed records.

A suite with `seeds` runs each trained variant (an "arm") once per seed, as concrete variants named
`<arm>[seed=<s>]` whose records carry "arm" and "seed". One seed's number says little about the arm (a
training run's seed moves a metric by as much as the effects papers claim), so a report shows the arm:
its metrics are the means over the seeds, and its per-query values the mean over the seeds of each
query's value. Comparisons then pair the seed-averaged per-query values with the other variants' as
usual; the spread over seeds is kept (`SeedInfo`) so that renderers show "mean ± sd" beside each value.

Everything here works on one evaluation set's newest records (`aggregate_set`), before the Report of
that set is built; unseeded records pass through untouched.
"""

from __future__ import annotations

import statistics
from typing import Any

from rqbench.records import load_per_query

# arm -> {"seeds": [seed, ...], "per_seed": {seed: {measure: value}}, "sd": {measure: sample sd}}
SeedInfo = dict[str, Any]


def arm_of(record: dict) -> str | None:
    """The arm a record is one seed of (its "arm" key), or None for an unseeded record."""
    arm = record.get("arm")
    return arm if isinstance(arm, str) and arm else None


def report_name(record: dict) -> str:
    """The name a record has in a report: its arm for a seeded record, else its variant."""
    return arm_of(record) or record["variant"]


def _sorted_seeds(seeds: list[Any]) -> list[Any]:
    try:
        return sorted(seeds)
    except TypeError:  # mixed types (a record without an integer seed): a stable, readable order
        return sorted(seeds, key=str)


def _sd(values: list[float]) -> float:
    """Sample standard deviation (n - 1); 0.0 for a single seed."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _per_query(record: dict) -> dict[str, dict[str, float]] | None:
    """A seed record's per-query values (inline or its sidecar); None when they cannot be located."""
    if "per_query" in record:
        return record["per_query"]
    if "_path" in record:
        return load_per_query(record)
    return None


def _mean_per_query(arm: str, by_seed: dict[Any, dict], notes: list[str]) -> dict[str, dict[str, float]] | None:
    """measure -> qid -> mean over the seeds of the query's value (0 for a seed without that query), for
    the measures every seed has per-query values for; None when some seed's values cannot be located."""
    loaded = {s: _per_query(rec) for s, rec in by_seed.items()}
    if any(values is None for values in loaded.values()):
        return None
    per_seed = {s: v for s, v in loaded.items() if v is not None}
    measures = list(dict.fromkeys(m for values in per_seed.values() for m in values))
    out: dict[str, dict[str, float]] = {}
    for m in measures:
        lacking = [s for s, values in per_seed.items() if m not in values]
        if lacking:
            notes.append(f"arm '{arm}': seed(s) {', '.join(map(str, lacking))} have no per-query values for {m}, "
                         "so the arm has none for it")
            continue
        columns = {s: {str(q): float(x) for q, x in values[m].items()} for s, values in per_seed.items()}
        qids = list(dict.fromkeys(q for col in columns.values() for q in col))
        short = [f"seed {s}: {len(col)}" for s, col in columns.items() if len(col) != len(qids)]
        if short:
            notes.append(f"arm '{arm}', {m}: the seeds have per-query values for different queries ({len(qids)} "
                         f"in all; {', '.join(short)}); a query missing in one seed counts as 0 there")
        out[m] = {q: sum(col.get(q, 0.0) for col in columns.values()) / len(columns) for q in qids}
    return out


def _mean_curves(records: list[dict]) -> dict[str, dict[str, float]]:
    """Each curve point averaged over the seeds that have it."""
    points: dict[str, dict[str, list[float]]] = {}
    for rec in records:
        for kind, curve in (rec.get("curves") or {}).items():
            for k, x in curve.items():
                points.setdefault(kind, {}).setdefault(k, []).append(float(x))
    return {kind: {k: statistics.fmean(xs) for k, xs in curve.items()} for kind, curve in points.items()}


def _newest(records: list[dict]) -> dict:
    """The newest record by "created" (the last one given among equals or without a time)."""
    return max(reversed(records), key=lambda r: str(r.get("created") or ""))


def _dataset_key(rec: dict) -> tuple:
    ds = rec.get("dataset") or {}
    fp = ds.get("fingerprints") or {}
    return ds.get("name"), ds.get("split"), fp.get("queries"), fp.get("qrels")


def aggregate_arm(arm: str, by_seed: dict[Any, dict], notes: list[str]) -> tuple[dict, SeedInfo]:
    """The synthetic record of `arm` from its seeds' records (seed -> newest record of that seed on one
    evaluation set) and its `SeedInfo`.

    The record is the newest seed record with: variant = the arm; "metrics" the means over the seeds
    (over the seeds that have the measure, with a note when some lack it); "per_query" inline, the mean
    over the seeds of each query's value (absent, like "_path", when some seed's values cannot be
    located, so the report says they were not loaded); "curves" averaged; "seeds" {"<seed>": metrics};
    "n_seeds"; "seed" the seeds listed ("13, 14, 15", shown in the environment table); "stages" every
    seed's stages, each with its "seed"; the environment marked dirty when any seed's checkout was.
    """
    seeds = _sorted_seeds(list(by_seed))
    ordered = [by_seed[s] for s in seeds]
    newest = _newest(ordered)
    per_seed = {s: {m: float(x) for m, x in (by_seed[s].get("metrics") or {}).items()} for s in seeds}
    measures = list(dict.fromkeys(m for metrics in per_seed.values() for m in metrics))
    metrics: dict[str, float] = {}
    sd: dict[str, float] = {}
    for m in measures:
        values = [per_seed[s][m] for s in seeds if m in per_seed[s]]
        if len(values) < len(seeds):
            lacking = [str(s) for s in seeds if m not in per_seed[s]]
            notes.append(f"arm '{arm}': seed(s) {', '.join(lacking)} have no value for {m}; its mean and sd are "
                         f"over the other {len(values)} seed(s)")
        metrics[m], sd[m] = statistics.fmean(values), _sd(values)
    if len({_dataset_key(r) for r in ordered}) > 1:
        notes.append(f"the seeds of arm '{arm}' were evaluated on different queries or qrels; their mean is "
                     "not meaningful")

    record = {k: v for k, v in newest.items() if k not in ("per_query", "_path")}
    per_query = _mean_per_query(arm, by_seed, notes)
    if per_query is not None:
        record["per_query"] = per_query
    env = dict(newest.get("env") or {})
    if any(((r.get("env") or {}).get("git") or {}).get("dirty") for r in ordered):
        env["git"] = {**(env.get("git") or {}), "dirty": True}
    record.update(
        variant=arm, metrics=metrics, curves=_mean_curves(ordered), env=env,
        seeds={str(s): per_seed[s] for s in seeds}, n_seeds=len(seeds), seed=", ".join(map(str, seeds)),
        stages=[{**st, "seed": s} for s in seeds for st in (by_seed[s].get("stages") or [])],
    )
    return record, {"seeds": seeds, "per_seed": per_seed, "sd": sd}


def aggregate_set(group: dict[str, dict], notes: list[str]) -> tuple[dict[str, dict], dict[str, SeedInfo]]:
    """One evaluation set's newest records (variant -> record, in report order) with the records of each
    arm's seeds replaced by the arm's synthetic record (`aggregate_arm`), which takes the place of the
    arm's first record; and arm -> SeedInfo. An unseeded record with an arm's own name (an older run of
    the suite, before it had seeds) gives way to the arm unless it is newer than every seed's record."""
    seeded: dict[str, dict[Any, dict]] = {}
    for v, rec in group.items():
        arm = arm_of(rec)
        if arm is None:
            continue
        seed = rec.get("seed", v)
        if seed in seeded.setdefault(arm, {}):
            notes.append(f"arm '{arm}' has two variants with seed {seed}; the later one ('{v}') is used")
        seeded[arm][seed] = rec
    if not seeded:
        return group, {}
    arms = {arm: aggregate_arm(arm, by_seed, notes) for arm, by_seed in seeded.items()}
    out: dict[str, dict] = {}
    info: dict[str, SeedInfo] = {}
    for rec in group.values():
        name = report_name(rec)
        if name in out:
            continue
        if name not in arms:
            out[name] = rec
            continue
        plain = group.get(name) if arm_of(group.get(name) or {}) is None else None
        newest_seed = max(str(r.get("created") or "") for r in seeded[name].values())
        if plain is not None and str(plain.get("created") or "") > newest_seed:
            notes.append(f"'{name}' has an unseeded record newer than its seeds' records; it is used, not the seeds")
            out[name] = plain
            continue
        if plain is not None:
            notes.append(f"an older unseeded record of '{name}' is superseded by its seeds' records")
        out[name], info[name] = arms[name]
    return out, info
