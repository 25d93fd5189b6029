"""A suite's `[negatives_audit]` table: RocketQA's false-negative audit (`rqbench.stages.audit`) of the
runs that mine hard negatives, on one densely judged evaluation set, with the teachers that would denoise
them.

    [negatives_audit]
    evaluation = "dl19"           # default: the first evaluation set; its qrels must be dense (TREC DL)
    miners = ["bm25", "tasb"]     # variants or arms whose top-`depth` is mined; default: every variant
                                  # evaluated on that set except the teachers
    teachers = ["t"]              # variants whose run scores are P(relevant) (calibrated fusions); may be []
    depth = 50                    # the top-k mined (RocketQA scans a retriever's top 50)
    keep = 1                      # relevant passages left labelled per query; the others are hidden
    rel = 1                       # a grade >= rel is relevant (TREC DL's binary relevance: 2)
    seed = 0                      # which relevant passages are kept
    threshold = 0.1               # a teacher removes a candidate with P(relevant) >= threshold (RocketQA: 0.1)

Each miner's record on that set carries the audit as `audits["negatives_audit"]` (arms: one per seed, the
teachers of the same seed), shown in the report's Audits section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rqbench.errors import did_you_mean
from rqbench.negatives_audit import MAX_TEACHERS
from rqbench.suite.parts import EvalSet, Where, finite_number, reject_unknown

AUDIT_KEYS = {"evaluation", "miners", "teachers", "depth", "keep", "rel", "seed", "threshold"}


@dataclass(frozen=True)
class NegativesAudit:
    evaluation: str
    miners: tuple[str, ...] | None  # None: every variant evaluated on the set, teachers excepted
    teachers: tuple[str, ...]
    depth: int = 50
    keep: int = 1
    rel: int = 1
    seed: int = 0
    threshold: float = 0.1
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"evaluation": self.evaluation, "miners": list(self.miners) if self.miners else None,
                "teachers": list(self.teachers), "depth": self.depth, "keep": self.keep, "rel": self.rel,
                "seed": self.seed, "threshold": self.threshold}


def _names(table: dict[str, Any], key: str, arms: list[str], w: Where, line: int | None) -> tuple[str, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    where = w.line_of(key, line or 1)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise w.error(f"negatives_audit.{key} must be a list of variant names", where)
    for name in value:
        if name not in arms:
            raise w.error(f"negatives_audit.{key} names unknown variant '{name}'" + did_you_mean(name, arms), where)
    if len(set(value)) != len(value):
        raise w.error(f"negatives_audit.{key} names a variant twice", where)
    return tuple(value)


def _whole(table: dict[str, Any], key: str, default: int, least: int, w: Where, line: int | None) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise w.error(f"negatives_audit.{key} must be a whole number of at least {least}, not {value!r}",
                      w.line_of(key, line or 1))
    return value


def parse_negatives_audit(raw: Any, arms: list[str], evaluations: list[EvalSet], w: Where) -> NegativesAudit | None:
    """The `[negatives_audit]` table, every problem one line with file:line; None without one."""
    if raw is None:
        return None
    line = w.line_of("negatives_audit")
    if not isinstance(raw, dict):
        raise w.error("negatives_audit must be a table ([negatives_audit])", line)
    reject_unknown(raw, AUDIT_KEYS, w, "negatives_audit key")
    names = [ev.name for ev in evaluations]
    evaluation = raw.get("evaluation", names[0])
    if not isinstance(evaluation, str) or evaluation not in names:
        raise w.error(f"negatives_audit.evaluation names unknown evaluation set {evaluation!r}"
                      + did_you_mean(str(evaluation), names), w.line_of("evaluation", line or 1))
    miners = _names(raw, "miners", arms, w, line)
    if miners == ():
        raise w.error("negatives_audit.miners is empty: name the variants whose runs are mined (or leave it out)",
                      w.line_of("miners", line or 1))
    teachers = _names(raw, "teachers", arms, w, line) or ()
    if len(teachers) > MAX_TEACHERS:
        raise w.error(f"negatives_audit.teachers names {len(teachers)} teachers; at most {MAX_TEACHERS}",
                      w.line_of("teachers", line or 1))
    threshold = raw.get("threshold", 0.1)
    if not finite_number(threshold) or not 0 < threshold <= 1:
        raise w.error(f"negatives_audit.threshold must be above 0 and at most 1, not {threshold!r}",
                      w.line_of("threshold", line or 1))
    return NegativesAudit(evaluation, miners, teachers, depth=_whole(raw, "depth", 50, 1, w, line),
                          keep=_whole(raw, "keep", 1, 0, w, line), rel=_whole(raw, "rel", 1, 1, w, line),
                          seed=_whole(raw, "seed", 0, 0, w, line), threshold=float(threshold), line=line)
