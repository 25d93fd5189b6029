"""The regression gate: fresh results against a suite's expected values or a stored baseline record.

A drop is a regression when it exceeds the tolerance and, where per-query values exist on both sides,
the 95% paired-bootstrap CI of (fresh - baseline) lies entirely below zero: a difference the noise of
the query sample can explain does not fail CI. With `two_sided` (reproduction suites) a deviation
beyond the tolerance in either direction fails. Exit codes: 0 pass, 1 regression, 2 bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.records import latest_by_system, load_per_query
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
    latest = {v: r for (v, e), r in latest_by_system(records).items() if evaluation is None or e in ("", evaluation)}
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

    fresh, old = latest_by_system(records), latest_by_system(baseline)
    shared = [key for key in fresh if key in old]
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
    try:
        return load_per_query(record)
    except RqbenchError:
        return None
