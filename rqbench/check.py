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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.records import latest_by_system, load_per_query
from rqbench.report.seeds import aggregate_set, arm_of
from rqbench.suite import CheckSpec


@dataclass(frozen=True)
class CheckRow:
    variant: str
    measure: str
    expected: float
    actual: float | None
    ci: tuple[float, float] | None
    status: str  # OK | IMPROVED | REGRESSED | DEVIATES | MISSING

    @property
    def diff(self) -> float | None:
        return None if self.actual is None else self.actual - self.expected

    @property
    def failed(self) -> bool:
        return self.status in {"REGRESSED", "DEVIATES", "MISSING"}


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
                   measures: list[str], seed: int = 0) -> list[CheckRow]:
    """Compare fresh records with baseline records of the same variants, per query where possible."""
    from rqbench.stats import paired_compare

    fresh, old = systems(records), systems(baseline)
    arms = {(arm_of(r), e) for (v, e), r in fresh.items() if arm_of(r) and v != arm_of(r)}
    # a seed variant is compared only through its arm
    shared = [key for key in fresh if key in old and not (arm_of(fresh[key]) and key[0] != arm_of(fresh[key]))]
    for key in shared:
        if key in arms and fresh[key].get("seeds", {}).keys() != old[key].get("seeds", {}).keys():
            raise RqbenchError(f"arm '{key[0]}' ran with seeds {sorted(fresh[key]['seeds'])} here and "
                               f"{sorted(old[key].get('seeds', {}))} in the baseline; compare the same seeds")
    if not shared:
        raise RqbenchError("the baseline records share no variant with this suite")
    several = len({e for _, e in shared}) > 1
    rows = []
    for key in shared:
        variant = f"{key[0]} @{key[1]}" if several else key[0]
        fresh_pq, old_pq = _per_query(fresh[key]), _per_query(old[key])
        for measure in measures:
            expected = old[key]["metrics"].get(measure)
            actual = fresh[key]["metrics"].get(measure)
            if expected is None:
                continue
            ci = None
            if actual is not None and fresh_pq and old_pq and measure in fresh_pq and measure in old_pq:
                cmp = paired_compare(fresh_pq[measure], old_pq[measure], measure,
                                     n_resamples=spec.n_resamples, seed=seed)
                ci = (cmp.ci_low, cmp.ci_high)
            rows.append(CheckRow(variant, measure, expected, actual, ci, _status(expected, actual, ci, spec)))
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
