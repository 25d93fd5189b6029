"""Declared contrasts: the claims a suite was built to test (arm a against arm b, in a stated direction),
each tested paired by query and judged with a verdict.

A suite states its contrasts up front ([[contrasts]]; every record carries them as "suite_contrasts"),
so that the report answers the question the suite asks instead of leaving the reader to pick a row out
of the comparisons with the baseline. Each contrast is tested on each evaluation set (its `evaluations`,
else every set where both sides have records) and measure (its `measures`, else the set's first, primary
measure) with `rqbench.stats.paired_compare` on the seed-averaged per-query values (difference a - b).
All those tests form ONE family: the report's correction (Holm by default) runs over every contrast x
set x measure together, since a suite that declares several claims gets several chances to find one.
The report's `test` decides (the randomization test's p-values by default, the t-test's with "t"; both
are corrected). The verdict: "holds" (corrected p < alpha, difference in the expected direction), "contradicted"
(corrected p < alpha, the other way), "not significant", or "not run" (a side has no record or no
per-query values there). An equivalence claim (expect "a=b", with a margin) holds when the whole CI of
a - b lies within +-margin (a CI test of equivalence: no significant difference alone is not
evidence of equivalence), is contradicted by a significant difference whose CI leaves the margin, and is
"inconclusive" otherwise. A malformed contrast (from an old or hand-edited record) is skipped with a note.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rqbench.records import load_per_query

if TYPE_CHECKING:
    from rqbench.report.model import EvalSet, Report
    from rqbench.stats import PairedComparison

EXPECTS = ("a>b", "a<b", "a=b")
VERDICTS = ("holds", "contradicted", "not significant", "inconclusive", "not run")
DEFAULT_MARGIN = 0.01


@dataclass(frozen=True)
class ContrastResult:
    """One test of a declared contrast: on one evaluation set and measure (or "not run", with why)."""

    name: str
    claim: str
    a: str
    b: str
    expect: str  # "a>b" or "a<b": the claimed direction
    evaluation: str  # the evaluation set's name (what a contrast's `evaluations` lists); "" when none
    label: str  # the set as reports show it: "scifact (test)"; "" when none
    measure: str | None
    comparison: PairedComparison | None  # a vs b (difference a - b); None when not run
    p_corrected: float | None  # the deciding p-value after the correction over all contrast tests
    verdict: str  # one of VERDICTS
    n_seeds_a: int = 0  # seeds averaged for a (1 for an unseeded variant, 0 when not run)
    n_seeds_b: int = 0
    reason: str = ""  # why a test was not run
    margin: float | None = None  # expect "a=b": the equivalence margin

    @property
    def ran(self) -> bool:
        return self.comparison is not None


def parse_contrasts(declared: Any, notes: list[str]) -> list[dict[str, Any]]:
    """The well-formed contrasts of `declared` (a record's "suite_contrasts"), each as a dict with name,
    claim, a, b, expect, measures and evaluations (lists or None); a note for each one skipped."""
    if declared is None:
        return []
    if not isinstance(declared, list):
        notes.append("the records' suite_contrasts is not a list; no contrasts are tested")
        return []
    out: list[dict[str, Any]] = []
    for i, c in enumerate(declared, start=1):
        problem = _problem(c, {d["name"] for d in out})
        if problem:
            name = c.get("name") if isinstance(c, dict) and isinstance(c.get("name"), str) else f"#{i}"
            notes.append(f"contrast '{name}' is skipped: {problem}")
            continue
        out.append({"name": c["name"], "claim": str(c.get("claim") or ""), "a": c["a"], "b": c["b"],
                    "expect": c.get("expect") or "a>b", "measures": c.get("measures") or None,
                    "evaluations": c.get("evaluations") or None,
                    "margin": float(c["margin"]) if c.get("margin") is not None
                    else DEFAULT_MARGIN if c.get("expect") == "a=b" else None})
    return out


def _problem(c: Any, taken: set[str]) -> str:
    """What is wrong with one declared contrast; "" when nothing is."""
    if not isinstance(c, dict):
        return "not a table"
    for key in ("name", "a", "b"):
        if not isinstance(c.get(key), str) or not c[key]:
            return f"'{key}' must be a non-empty string"
    if c["name"] in taken:
        return "the name is used twice"
    if c["a"] == c["b"]:
        return f"it compares '{c['a']}' with itself"
    if (c.get("expect") or "a>b") not in EXPECTS:
        return f"expect must be 'a>b', 'a<b' or 'a=b', got {c.get('expect')!r}"
    margin = c.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, int | float) or margin <= 0):
        return f"margin must be a number > 0, got {margin!r}"
    for key in ("measures", "evaluations"):
        listed = c.get(key)
        if listed is not None and not (isinstance(listed, list) and all(isinstance(x, str) for x in listed)):
            return f"{key} must be a list of strings or null"
    return ""


def evaluate_contrasts(
    declared: list[dict[str, Any]],
    sections: list[Report],
    names: dict[EvalSet, str],
    records: dict[EvalSet, dict[str, dict]],
    settings: dict[str, Any],
) -> list[ContrastResult]:
    """Every test of the (parsed) contrasts, in declaration order, then set and measure order, with the
    family-wise correction over all of them. `sections` are the one-set Reports, `names` each set's
    evaluation name, `records` each set's records by report name (for per-query values of a measure the
    report does not show); `settings` holds n_resamples, seed, alpha, correction and test."""
    pending: list[tuple[ContrastResult, dict[str, float] | None, dict[str, float] | None]] = []
    for c in declared:
        pending += _tests(c, sections, names, records)
    runnable = [i for i, (_, va, vb) in enumerate(pending) if va is not None and vb is not None]
    if not runnable:
        return [r for r, _, _ in pending]

    from rqbench.stats import adjust, paired_compare  # numpy + scipy: only when there is something to test

    compared = {i: paired_compare(pending[i][1] or {}, pending[i][2] or {}, pending[i][0].measure or "",
                                  n_resamples=settings["n_resamples"], seed=settings["seed"], alpha=settings["alpha"])
                for i in runnable}
    correction = settings["correction"]
    rand_p = dict(zip(runnable, adjust([compared[i].rand_p for i in runnable], correction), strict=True))
    t_p = dict(zip(runnable, adjust([compared[i].t_p for i in runnable], correction), strict=True))
    holm = correction == "holm"
    out = []
    for i, (result, _, _) in enumerate(pending):
        if i not in compared:
            out.append(result)
            continue
        c = dataclasses.replace(compared[i], correction=correction, p_corrected=rand_p[i], t_p_corrected=t_p[i],
                                p_holm=rand_p[i] if holm else None, t_p_holm=t_p[i] if holm else None)
        p = c.p_value(settings.get("test", "randomization"))
        out.append(dataclasses.replace(result, comparison=c, p_corrected=p,
                                       verdict=_verdict(result, c, p, settings["alpha"])))
    return out


def _verdict(result: ContrastResult, c: PairedComparison, p: float, alpha: float) -> str:
    if result.expect == "a=b":
        margin = result.margin if result.margin is not None else DEFAULT_MARGIN
        if -margin <= c.ci_low and c.ci_high <= margin:
            return "holds"
        outside = c.ci_low > margin or c.ci_high < -margin
        return "contradicted" if p < alpha and outside else "inconclusive"
    if p >= alpha:
        return "not significant"
    expected = c.diff > 0 if result.expect == "a>b" else c.diff < 0
    return "holds" if expected else "contradicted"


def _n_seeds(section: Report, variant: str) -> int:
    info = section.seeds.get(variant)
    return len(info["seeds"]) if info else 1


def _tests(c: dict[str, Any], sections: list[Report], names: dict[EvalSet, str],
           records: dict[EvalSet, dict[str, dict]]) -> list[tuple[ContrastResult, Any, Any]]:
    """The tests of one contrast as (result without statistics, a's values, b's values); values are
    None for a test that is not run (its result then says why)."""
    base = ContrastResult(name=c["name"], claim=c["claim"], a=c["a"], b=c["b"], expect=c["expect"], evaluation="",
                          label="", measure=None, comparison=None, p_corrected=None, verdict="not run",
                          margin=c.get("margin"))
    everywhere = {v for s in sections for v in s.variants}
    missing = [x for x in (c["a"], c["b"]) if x not in everywhere]
    if missing:
        return [(dataclasses.replace(base, reason=" and ".join(f"no record of '{x}'" for x in missing)), None, None)]
    named = {names[s.eval_set]: s for s in sections if s.eval_set is not None}
    if c["evaluations"] is not None:
        chosen = [(e, named.get(e)) for e in c["evaluations"]]
    else:
        chosen = [(names[s.eval_set], s) for s in sections
                  if s.eval_set is not None and c["a"] in s.variants and c["b"] in s.variants]
    out: list[tuple[ContrastResult, Any, Any]] = []
    for evaluation, s in chosen:
        where = dataclasses.replace(base, evaluation=evaluation, label=s.label if s is not None else evaluation)
        if s is None:
            out.append((dataclasses.replace(where, reason=f"no records on evaluation set '{evaluation}'"), None, None))
            continue
        lacking = [x for x in (c["a"], c["b"]) if x not in s.variants]
        if lacking:
            out.append((dataclasses.replace(where, reason=" and ".join(f"no record of '{x}' there" for x in lacking)),
                        None, None))
            continue
        where = dataclasses.replace(where, n_seeds_a=_n_seeds(s, c["a"]), n_seeds_b=_n_seeds(s, c["b"]))
        for m in c["measures"] or s.measures[:1]:
            if c["measures"] and c["evaluations"] is None and not any(m in s.metrics[x] for x in (c["a"], c["b"])):
                continue  # a measure this set does not have: the claim is about the other sets
            va, vb = (_values(s, records[s.eval_set], x, m) for x in (c["a"], c["b"]))
            test = dataclasses.replace(where, measure=m)
            if va is None or vb is None:
                who = " and ".join(f"'{x}'" for x, v in ((c["a"], va), (c["b"], vb)) if v is None)
                out.append((dataclasses.replace(test, reason=f"no per-query values of {m} for {who}"), None, None))
            else:
                out.append((test, va, vb))
    if not out:
        out.append((dataclasses.replace(base, reason=f"'{c['a']}' and '{c['b']}' share no evaluation set with "
                                                     "that measure"), None, None))
    return out


def _values(section: Report, records: dict[str, dict], variant: str, measure: str) -> dict[str, float] | None:
    """A variant's per-query values of `measure` on one set: the report's, else its record's (inline, as
    seed-averaged arms have them, or its sidecar); None when there are none."""
    shown = section.per_query.get(variant, {}).get(measure)
    if shown is not None:
        return shown
    rec = records.get(variant) or {}
    if "per_query" in rec:
        found = rec["per_query"].get(measure)
    elif "_path" in rec and rec.get("per_query_file"):
        found = load_per_query(rec).get(measure)
    else:
        found = None
    return None if found is None else {str(q): float(x) for q, x in found.items()}
