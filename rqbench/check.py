"""The regression gate: fresh results against a suite's expected values or a stored baseline record.

A drop is a regression when it exceeds the tolerance and, where per-query values exist on both sides,
the 95% paired-bootstrap CI of (fresh - baseline) lies entirely below zero: a difference the noise of
the query sample can explain does not fail CI. With `two_sided` (reproduction suites) a deviation
beyond the tolerance in either direction fails. Exit codes: 0 pass, 1 regression, 2 bad input.

A suite with seeds is checked by arm: `md0` names the mean over its seeds (`md0[seed=13]`, ...), with
per-query values averaged over the seeds as the report does, so one lucky or unlucky seed neither passes
nor fails CI. Against a baseline, an arm in both record sets is compared as an arm only (with the same
seeds on both sides, else it is a bad-input error); in `[check.expected]` a seed variant's own name
still checks that seed alone.

Like with like: against a baseline, each variant is compared on the queries both record sets have values
for (the counts are in the row when they differ), and the fresh and baseline records must have the same
corpus and qrels fingerprints, else the check is refused as bad input unless `allow_other_data`. Every
variant of the baseline must be in the fresh records: one that is not (renamed, dropped) is MISSING, a
failure, never silently skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.records import latest_by_system, load_per_query
from rqbench.report.seeds import aggregate_set, arm_of
from rqbench.suite import CheckSpec

DATA_PARTS = ("corpus", "qrels")  # a baseline made on other documents or judgements is refused


@dataclass(frozen=True)
class CheckRow:
    variant: str
    measure: str
    expected: float
    actual: float | None
    ci: tuple[float, float] | None
    status: str  # OK | IMPROVED | REGRESSED | DEVIATES | MISSING
    queries: tuple[int, int, int] | None = None  # per-query comparison: (shared, this run's, the baseline's)

    @property
    def diff(self) -> float | None:
        return None if self.actual is None else self.actual - self.expected

    @property
    def failed(self) -> bool:
        return self.status in {"REGRESSED", "DEVIATES", "MISSING"}

    @property
    def on_shared_queries(self) -> bool:
        """True when expected and actual are means over the queries both sides share, not all of either's."""
        return self.queries is not None and (self.queries[0] < self.queries[1] or self.queries[0] < self.queries[2])


def check_expected(spec: CheckSpec, records: list[dict[str, Any]], evaluation: str | None = None) -> list[CheckRow]:
    """Compare the newest record of each variant on the first evaluation set with `spec.expected` (no
    per-query data: tolerance only)."""
    if not spec.expected:
        raise RqbenchError("the suite has no [check.expected] values; pass --baseline RECORDS instead")
    latest = {v: r for (v, e), r in systems(records).items() if evaluation is None or e in ("", evaluation)}
    rows = []
    for variant, expected in spec.expected.items():
        metrics = latest[variant]["metrics"] if variant in latest else {}
        for measure, value in expected.items():
            actual = metrics.get(measure)
            rows.append(CheckRow(variant, measure, value, actual, None, _status(value, actual, None, spec)))
    return rows


def check_baseline(spec: CheckSpec, records: list[dict[str, Any]], baseline: list[dict[str, Any]],
                   measures: list[str], seed: int = 0, *, allow_other_data: bool = False,
                   notes: list[str] | None = None) -> list[CheckRow]:
    """Compare fresh records with baseline records of the same variants, per query where possible, on the
    queries both share. Every baseline variant gets rows (MISSING when the fresh records lack it). Other
    corpus or qrels fingerprints: RqbenchError unless `allow_other_data` (then a line in `notes`)."""
    fresh, old = systems(records), systems(baseline)
    where = next((r["_path"] for r in baseline if r.get("_path")), None)  # the baseline file, for errors
    # a seed variant is compared only through its arm
    keys = [key for key, rec in old.items() if not (arm_of(rec) and key[0] != arm_of(rec))]
    shared = [key for key in keys if key in fresh]
    if not shared:
        raise RqbenchError("the baseline records share no variant with this suite")
    for key in shared:
        _same_seeds(key, fresh[key], old[key])
        for problem in _other_data(key, fresh[key], old[key]):
            if not allow_other_data:
                raise RqbenchError(f"{problem}; compare like with like, or pass --allow-other-data to compare "
                                   "on the queries both share", where)
            if notes is not None and problem not in notes:
                notes.append(problem)
    several = len({e for _, e in keys}) > 1
    rows: list[CheckRow] = []
    for key in keys:
        label = f"{key[0]} @{key[1]}" if several else key[0]
        if key in fresh:
            rows += _compare(label, fresh[key], old[key], measures, spec, seed, where)
        else:  # renamed or dropped: the gate cannot vouch for it
            rows += [CheckRow(label, m, old[key]["metrics"][m], None, None, "MISSING")
                     for m in measures if m in old[key].get("metrics", {})]
    return rows


def _same_seeds(key: tuple[str, str], fresh: dict[str, Any], old: dict[str, Any]) -> None:
    """An arm is compared with the same seeds on both sides, else it is a bad input."""
    if arm_of(fresh) and key[0] == arm_of(fresh) and fresh.get("seeds", {}).keys() != old.get("seeds", {}).keys():
        raise RqbenchError(f"arm '{key[0]}' ran with seeds {sorted(fresh['seeds'])} here and "
                           f"{sorted(old.get('seeds', {}))} in the baseline; compare the same seeds")


def _other_data(key: tuple[str, str], fresh: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """One line per data part (corpus, qrels) whose fingerprint differs between the two records (a part
    either record lacks is not compared: records of runs made outside a suite carry only the qrels')."""
    mine = (fresh.get("dataset") or {}).get("fingerprints") or {}
    theirs = (old.get("dataset") or {}).get("fingerprints") or {}
    where = f" on evaluation set '{key[1]}'" if key[1] else ""
    return [f"the baseline's {part} differ from this run's{where} (fingerprint {str(theirs[part])[:12]} "
            f"there, {str(mine[part])[:12]} here, variant '{key[0]}')"
            for part in DATA_PARTS if mine.get(part) and theirs.get(part) and mine[part] != theirs[part]]


def _compare(label: str, fresh: dict[str, Any], old: dict[str, Any], measures: list[str], spec: CheckSpec,
             seed: int, where: str | None) -> list[CheckRow]:
    """The rows of one variant present on both sides: per query on the shared queries where both have
    per-query values, else the recorded aggregates by the tolerance alone (refused when the two were
    evaluated on different numbers of queries: their means are not comparable)."""
    from rqbench.stats import paired_compare

    fresh_pq, old_pq = _per_query(fresh), _per_query(old)
    rows = []
    for measure in measures:
        expected, actual = old["metrics"].get(measure), fresh["metrics"].get(measure)
        if expected is None:
            continue
        if actual is None or not (fresh_pq and old_pq and measure in fresh_pq and measure in old_pq):
            if actual is not None and fresh.get("n_queries") != old.get("n_queries"):
                raise RqbenchError(f"'{label}' was evaluated on {old.get('n_queries')} queries in the baseline and "
                                   f"{fresh.get('n_queries')} here, and one side has no per-query values to compare "
                                   "the queries both share (copy the baseline's perquery/ folder beside it)",
                                   where)
            rows.append(CheckRow(label, measure, expected, actual, None, _status(expected, actual, None, spec)))
            continue
        mine, theirs = fresh_pq[measure], old_pq[measure]
        common = sorted(set(mine) & set(theirs))
        if not common:
            raise RqbenchError(f"'{label}' shares no query with the baseline ({measure}): other data?", where)
        cmp = paired_compare({q: mine[q] for q in common}, {q: theirs[q] for q in common}, measure,
                             n_resamples=spec.n_resamples, seed=seed)
        counts = (len(common), len(mine), len(theirs))
        if len(common) < max(len(mine), len(theirs)):  # the means over the shared queries, as the CI's
            expected, actual = cmp.mean_b, cmp.mean_a
        ci = (cmp.ci_low, cmp.ci_high)
        rows.append(CheckRow(label, measure, expected, actual, ci, _status(expected, actual, ci, spec), counts))
    return rows


def systems(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(name, evaluation) -> newest record, where an arm's seeds also appear under the arm's name as one
    record of seed-averaged metrics and per-query values (`rqbench.report.seeds.aggregate_set`)."""
    latest = latest_by_system(records)
    by_evaluation: dict[str, dict[str, dict[str, Any]]] = {}
    for (variant, evaluation), record in latest.items():
        by_evaluation.setdefault(evaluation, {})[variant] = record
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for evaluation, group in by_evaluation.items():
        merged, _ = aggregate_set({v: _with_per_query(r) for v, r in group.items()}, [])
        out.update({(name, evaluation): record for name, record in merged.items()})
    for key, record in latest.items():
        out.setdefault(key, record)
    return out


def _with_per_query(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with its per-query values inline, or without any (and without the sidecar path) when they
    cannot be read: the arm's mean then has none, and the comparison falls back to the tolerance alone."""
    values = _per_query(record)
    rest = {k: v for k, v in record.items() if k not in ("per_query", "_path")}
    return rest if values is None else {**rest, "per_query": values}


def exit_code(rows: list[CheckRow]) -> int:
    return 1 if any(r.failed for r in rows) else 0


def _status(expected: float, actual: float | None, ci: tuple[float, float] | None, spec: CheckSpec) -> str:
    if actual is None:
        return "MISSING"
    diff = actual - expected
    if abs(diff) <= spec.tolerance:
        return "OK"
    if spec.two_sided:
        return "DEVIATES"
    if diff > 0:
        return "IMPROVED"
    if ci is not None and ci[1] >= 0:  # within the noise of the query sample
        return "OK"
    return "REGRESSED"


def _per_query(record: dict[str, Any]) -> dict[str, dict[str, float]] | None:
    if "per_query" in record:  # an arm's seed-averaged values
        return record["per_query"]
    if "_path" not in record:  # not read from a records file: nowhere to look
        return None
    try:
        return load_per_query(record)
    except RqbenchError:
        return None
