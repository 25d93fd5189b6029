"""How many mined hard negatives are unlabelled positives, and how well a teacher removes them.

RocketQA (arXiv 2010.08191, section 4.2) denoises hard negatives because a retriever's top-k "negatives"
hold false negatives: relevant passages nobody labelled. On MS MARCO's sparse labels this cannot be
checked; on a densely judged set (TREC DL) it can, by making the labels sparse on purpose:

1. For each query with at least one relevant passage (grade >= `rel`), `keep` of its relevant passages are
   kept as the known positives, drawn with `random.Random(f"{seed}:{qid}")` from the sorted relevant ids;
   the other relevant passages are *hidden*.
2. The candidates ("mined negatives") are the run's top-`depth` in `sort_ranking` order minus the kept
   positives (RocketQA mines negatives excluding the known positives). Each candidate is exactly one of:
   - a **hidden positive** (grade >= `rel`, not kept): a false negative;
   - **judged non-relevant** (judged with a grade below `rel`; with `rel=2` the grade-1 "related" passages
     are counted here): a true hard negative;
   - **unjudged**: not in the qrels. TREC pools are top-k of other systems, so unjudged is *not* the same as
     non-relevant; it is counted apart and never as a false negative.
3. A teacher (qid -> docid -> P(relevant), e.g. a calibrated fusion run) removes a candidate when
   P >= `threshold`, RocketQA's rule as `rqbench.training.denoise` applies it. A candidate the teacher has no
   score for counts as P = 0, so it stays a negative; such candidates are counted (`unscored`, and
   `unscored_hidden` for the hidden positives among them). `denoise_groups` instead drops an unscored
   candidate, which there only happens on a broken input (its cross-encoder scores the whole scan); a teacher
   run scores only what its members retrieved, so here "not seen" must mean "not flagged".

Rates are micro-averaged over candidates (each candidate counts once); a rate whose denominator is 0 is None.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.types import Qrels, Run, sort_ranking

CURVE_THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
MAX_TEACHERS = 8  # teachers one audit compares (the audit stage's teacher inputs)
HIDDEN, JUDGED_NONRELEVANT, UNJUDGED = "hidden_positive", "judged_nonrelevant", "unjudged"
Teacher = Mapping[str, Mapping[str, float]]
"""qid -> docid -> P(relevant) in [0, 1]."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One mined negative: its id, rank in the run (1-based), kind (HIDDEN, ...) and grade (None: unjudged)."""

    docid: str
    rank: int
    kind: str
    grade: int | None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def check_settings(depth: int, keep: int, rel: int, threshold: float) -> None:
    """A one-line RqbenchError for the first setting out of range."""
    for name, value, least in (("depth", depth, 1), ("keep", keep, 0), ("rel", rel, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise RqbenchError(f"{name} must be a whole number of at least {least}, not {value!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise RqbenchError(f"threshold must be above 0 and at most 1, not {threshold!r}")


def kept_positives(relevant: Iterable[str], qid: str, keep: int, seed: int) -> list[str]:
    """The `keep` relevant ids of `qid` left labelled (all of them when there are fewer), sorted: drawn by
    `random.Random(f"{seed}:{qid}")` from the sorted ids, so the choice depends on nothing but these."""
    ordered = sorted(set(relevant))
    return sorted(random.Random(f"{seed}:{qid}").sample(ordered, min(keep, len(ordered))))


def mine_candidates(ranking: Iterable[Any], judged: Mapping[str, int], kept: Iterable[str], depth: int,
                    rel: int) -> list[Candidate]:
    """The top-`depth` of `ranking` (ScoredDocs, put in `sort_ranking` order) minus `kept`, each classified."""
    skip = set(kept)
    out = []
    for rank, sd in enumerate(sort_ranking(ranking, depth), start=1):
        if sd.docid in skip:
            continue
        grade = judged.get(sd.docid)
        kind = UNJUDGED if grade is None else HIDDEN if grade >= rel else JUDGED_NONRELEVANT
        out.append(Candidate(sd.docid, rank, kind, grade))
    return out


def check_teacher(name: str, teacher: Teacher) -> None:
    """Every score a finite probability in [0, 1], else a one-line RqbenchError naming the first bad one."""
    for qid, scores in teacher.items():
        for docid, p in scores.items():
            if not (isinstance(p, int | float) and 0.0 <= p <= 1.0):  # NaN fails too
                raise RqbenchError(f"teacher '{name}': score {p!r} (query '{qid}', document '{docid}') is not a "
                                   "probability in [0, 1]: apply a sigmoid to logits (audit-negatives --logits) "
                                   "or calibrate the run (rqbench fuse --method calibrated)")


def removal(mined: Mapping[str, list[Candidate]], teacher: Teacher, threshold: float) -> dict[str, Any]:
    """What removing every candidate with P >= `threshold` does (P = 0 where the teacher has no score).

    removed: candidates removed; removed_hidden: hidden positives among them (false negatives caught);
    removed_judged_nonrelevant: judged non-relevant ones removed (true hard negatives lost); removed_unjudged;
    precision = removed_hidden / removed; recall = removed_hidden / hidden positives among the candidates;
    fn_rate_after = hidden positives left / candidates left (the false-negative rate of the denoised pool).
    """
    removed: Counter[str] = Counter()
    hidden = candidates = 0
    for qid, cands in mined.items():
        scores = teacher.get(qid, {})
        for c in cands:
            candidates += 1
            hidden += c.kind == HIDDEN
            if scores.get(c.docid, 0.0) >= threshold:
                removed[c.kind] += 1
    total = sum(removed.values())
    return {"threshold": threshold, "removed": total, "removed_hidden": removed[HIDDEN],
            "removed_judged_nonrelevant": removed[JUDGED_NONRELEVANT], "removed_unjudged": removed[UNJUDGED],
            "precision": _ratio(removed[HIDDEN], total), "recall": _ratio(removed[HIDDEN], hidden),
            "fn_rate_after": _ratio(hidden - removed[HIDDEN], candidates - total)}


def _teacher_report(name: str, mined: Mapping[str, list[Candidate]], teacher: Teacher, threshold: float,
                    thresholds: list[float]) -> dict[str, Any]:
    if mined and not any(qid in teacher for qid in mined):
        raise RqbenchError(f"teacher '{name}' scores none of the {len(mined)} audited queries (do the query ids "
                           "match?)")
    unscored = unscored_hidden = 0
    per_query: dict[str, dict[str, int]] = {}
    for qid, cands in mined.items():
        scores = teacher.get(qid, {})
        missing = [c for c in cands if c.docid not in scores]
        unscored += len(missing)
        unscored_hidden += sum(c.kind == HIDDEN for c in missing)
        flagged = [c for c in cands if scores.get(c.docid, 0.0) >= threshold]
        per_query[qid] = {"removed": len(flagged), "removed_hidden": sum(c.kind == HIDDEN for c in flagged),
                          "unscored": len(missing)}
    return {**removal(mined, teacher, threshold), "unscored": unscored, "unscored_hidden": unscored_hidden,
            "queries_scored": sum(qid in teacher for qid in mined),
            "curve": [removal(mined, teacher, t) for t in thresholds], "per_query": per_query}


def audit_negatives(run: Run, qrels: Qrels, *, depth: int = 50, keep: int = 1, rel: int = 1, seed: int = 0,
                    teachers: Mapping[str, Teacher] | None = None, threshold: float = 0.1) -> dict[str, Any]:
    """The audit of `run` as a miner of hard negatives against `qrels` (see the module's docstring), JSON-ready.

    Audited queries: those of `qrels` with a passage graded >= `rel` that `run` answers; judged queries without
    one are counted (`queries_without_relevant`), and so are those the run does not answer (`unanswered`).
    `totals`: candidates, hidden_positives (among the candidates), judged_nonrelevant, unjudged, fn_rate
    (hidden_positives / candidates), queries_with_fn and its share, hidden_total (every hidden positive, retrieved
    or not) and hidden_reached (hidden_positives / hidden_total: the miner's recall of the hidden positives at
    `depth`), and the grades of the hidden and judged non-relevant candidates. `teachers`: per teacher, the
    `removal` figures at `threshold`, the same at each of CURVE_THRESHOLDS (and `threshold`) as `curve`, unscored
    candidates and per-query counts.
    """
    check_settings(depth, keep, rel, threshold)
    teachers = dict(teachers or {})
    for name, teacher in teachers.items():
        check_teacher(name, teacher)
    without_relevant = unanswered = hidden_total = 0
    mined: dict[str, list[Candidate]] = {}
    per_query: dict[str, dict[str, Any]] = {}
    for qid in sorted(qrels):
        judged = qrels[qid]
        relevant = [docid for docid, grade in judged.items() if grade >= rel]
        if not relevant:
            without_relevant += 1
            continue
        if qid not in run:
            unanswered += 1
            continue
        kept = kept_positives(relevant, qid, keep, seed)
        hidden_total += len(relevant) - len(kept)
        mined[qid] = cands = mine_candidates(run[qid], judged, kept, depth, rel)
        kinds = Counter(c.kind for c in cands)
        per_query[qid] = {"kept": kept, "hidden": len(relevant) - len(kept), "candidates": len(cands),
                          HIDDEN: kinds[HIDDEN], JUDGED_NONRELEVANT: kinds[JUDGED_NONRELEVANT],
                          UNJUDGED: kinds[UNJUDGED]}
    if not mined:
        why = "the run answers none of them (do the query ids match?)" if unanswered else \
            f"no judged query has a passage graded >= {rel}"
        raise RqbenchError(f"nothing to audit: {why}")
    everyone = [c for cands in mined.values() for c in cands]
    kinds = Counter(c.kind for c in everyone)
    with_fn = sum(1 for counts in per_query.values() if counts[HIDDEN])
    totals = {"candidates": len(everyone), "hidden_positives": kinds[HIDDEN],
              "judged_nonrelevant": kinds[JUDGED_NONRELEVANT], "unjudged": kinds[UNJUDGED],
              "fn_rate": _ratio(kinds[HIDDEN], len(everyone)), "queries_with_fn": with_fn,
              "share_queries_with_fn": with_fn / len(mined), "hidden_total": hidden_total,
              "hidden_reached": _ratio(kinds[HIDDEN], hidden_total),
              "hidden_by_grade": _grades(c for c in everyone if c.kind == HIDDEN),
              "judged_nonrelevant_by_grade": _grades(c for c in everyone if c.kind == JUDGED_NONRELEVANT)}
    thresholds = sorted({*CURVE_THRESHOLDS, float(threshold)})
    return {"settings": {"depth": depth, "keep": keep, "rel": rel, "seed": seed, "threshold": threshold},
            "queries": len(mined), "queries_without_relevant": without_relevant, "unanswered": unanswered,
            "totals": totals, "per_query": per_query,
            "teachers": {name: _teacher_report(name, mined, teacher, threshold, thresholds)
                         for name, teacher in teachers.items()}}


def _grades(cands: Iterable[Candidate]) -> dict[str, int]:
    counts = Counter(c.grade for c in cands)
    return {str(grade): counts[grade] for grade in sorted(g for g in counts if g is not None)}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown_tables(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """Markdown of several audits made with the same settings: the miners' false negatives, then per teacher its
    removal at the audit's threshold and its precision/recall curve."""
    if not runs:
        return ""
    settings = runs[0][1]["settings"]
    lines = [f"Mined negatives (top-{settings['depth']} minus the kept positive; relevant = grade >= "
             f"{settings['rel']}):", "",
             "| miner | queries | candidates | hidden positives | FN rate | queries with FN | judged non-rel. "
             "| unjudged | hidden reached |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, audit in runs:
        t = audit["totals"]
        lines.append(f"| {name} | {audit['queries']} | {t['candidates']} | {t['hidden_positives']} | "
                     f"{_rate(t['fn_rate'])} | {t['queries_with_fn']}/{audit['queries']} | "
                     f"{t['judged_nonrelevant']} | {t['unjudged']} | {t['hidden_positives']}/{t['hidden_total']} |")
    teacher_names = list(runs[0][1]["teachers"])
    if not teacher_names:
        return "\n".join(lines) + "\n"
    lines += ["", f"Teachers removing P >= {settings['threshold']} (hidden: hidden positives removed; judged: "
              "judged non-relevant removed; unscored: candidates the teacher never scored, kept as P = 0, with "
              "the hidden positives among them):", "",
              "| miner | teacher | removed | hidden | precision | recall | judged | unjudged | unscored "
              "| FN rate after |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, audit in runs:
        for teacher, r in audit["teachers"].items():
            lines.append(f"| {name} | {teacher} | {r['removed']} | {r['removed_hidden']} | {_rate(r['precision'])} "
                         f"| {_rate(r['recall'])} | {r['removed_judged_nonrelevant']} | {r['removed_unjudged']} | "
                         f"{r['unscored']} ({r['unscored_hidden']}) | {_rate(r['fn_rate_after'])} |")
    curve = [c["threshold"] for c in runs[0][1]["teachers"][teacher_names[0]]["curve"]]
    lines += ["", "Precision / recall of the removal by threshold (hidden positives removed of all removed):", "",
              "| miner | teacher | " + " | ".join(f"P >= {t:g}" for t in curve) + " |",
              "|---|---|" + "---:|" * len(curve)]
    for name, audit in runs:
        for teacher, r in audit["teachers"].items():
            cells = [f"{_rate(c['precision'])} / {_rate(c['recall'])} ({c['removed_hidden']} of {c['removed']})"
                     for c in r["curve"]]
            lines.append(f"| {name} | {teacher} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
