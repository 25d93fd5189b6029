"""The audits of RocketQA's training data (denoised hard negatives, pseudo-labels) as a report shows them.

A record carries "audits": {role: summary} for its variant's own `denoise` and `augment` stages (see
`rqbench.training.denoise.DenoiseAudit` and `rqbench.training.augment.AugmentAudit`). Those summaries
describe the training data, not the evaluation, so they are the same on every evaluation set a variant
was evaluated on: a report shows each once, from the newest record of each (variant, seed) on any set,
not once per set. A seeded arm has one audit per seed (each seed trains on its own data).

The rates here are the few numbers a reader needs to judge the data: how much the denoiser threw away,
whether the cross-encoder that decides agrees with the labels we do have, how many queries the labeller
covered and, where its split had labels, how often it was right. Each returns None where its denominator
is zero (nothing to judge), never a misleading 0.
"""

from __future__ import annotations

from typing import Any

from rqbench.report.seeds import arm_of, report_name

AuditEntry = tuple[Any, dict[str, Any]]  # (seed, or None for an unseeded variant; the role's summary)
Audits = dict[str, dict[str, list[AuditEntry]]]  # report name -> role -> one entry per seed
# the roles a report has a table for, in this order; "augment_audit": the labeller on a held-apart labelled
# split (`train.augment_audit_split`), not trained on, shown in the pseudo-labels table
ROLES = ("denoise", "hybrid", "augment", "augment_audit", "negatives_audit")
SET_ROLES = ("negatives_audit",)  # audits of one evaluation set's qrels (`rqbench.stages.audit`)


def _created(record: dict) -> str:
    return str(record.get("created") or "")


def collect_audits(records: list[dict]) -> Audits:
    """Report name -> role -> [(seed, summary)] from the newest record of each (name, seed) on any evaluation
    set; names in order of first appearance (as `Report.variants`), seeds sorted, roles `ROLES` first.

    Only records with non-empty audits count, so {} means the report has no audits at all. A name with
    both an unseeded record and seed records (a suite that gained seeds) shows the seeds, unless the
    unseeded record is newer than all of them: the same rule that picks the arm's metrics.
    """
    newest: dict[str, dict[Any, dict]] = {}
    for rec in records:
        name, seed = report_name(rec), rec.get("seed") if arm_of(rec) else None
        by_seed = newest.setdefault(name, {})
        current = by_seed.get(seed)
        if current is None or _created(rec) >= _created(current):
            by_seed[seed] = _with_set_audits(rec, current)
        else:
            by_seed[seed] = _with_set_audits(current, rec)
    out: Audits = {}
    for name, by_seed in newest.items():
        if None in by_seed and len(by_seed) > 1:
            plain = by_seed.pop(None)
            if _created(plain) > max(_created(r) for r in by_seed.values()):
                by_seed = {None: plain}
        roles: dict[str, list[AuditEntry]] = {}
        for seed in _sorted(list(by_seed)):
            for role, summary in (by_seed[seed].get("audits") or {}).items():
                if isinstance(summary, dict) and summary:
                    roles.setdefault(role, []).append((seed, summary))
        if roles:
            order = [r for r in ROLES if r in roles] + [r for r in roles if r not in ROLES]
            out[name] = {r: roles[r] for r in order}
    return out


def _with_set_audits(newer: dict, older: dict | None) -> dict:
    """`newer`, also carrying the older record's audits of one evaluation set only (a negatives audit) that it
    lacks: those belong to the set they were measured on, not to the newest record of any set."""
    kept = {role: s for role, s in ((older or {}).get("audits") or {}).items()
            if role in SET_ROLES and role not in (newer.get("audits") or {})}
    return {**newer, "audits": {**(newer.get("audits") or {}), **kept}} if kept else newer


def _sorted(seeds: list[Any]) -> list[Any]:
    try:
        return sorted(seeds)
    except TypeError:  # mixed types: a stable, readable order
        return sorted(seeds, key=str)


def _ratio(a: Any, b: Any) -> float | None:
    """a / b as a float; None when either is missing or b is 0."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return None
    return float(a) / float(b)


def histogram_counts(summary: dict[str, Any]) -> list[int]:
    """The counts of the summary's P(relevant) histogram (10 bins over 0..1); [] when it has none."""
    hist = summary.get("probability_histogram") or {}
    return [int(c) for c in hist.get("counts") or []]


def histogram_text(summary: dict[str, Any]) -> str:
    """The histogram in one compact line, its counts joined by '/' from the lowest bin up ('' without)."""
    return "/".join(map(str, histogram_counts(summary)))


def drop_rate(summary: dict[str, Any]) -> float | None:
    """Dropped / (kept + dropped): the share of the scanned negatives the cross-encoder threw away."""
    return _ratio(summary.get("dropped", 0), (summary.get("kept") or 0) + (summary.get("dropped") or 0))


def agreement(summary: dict[str, Any]) -> float | None:
    """Positives flagged / positives in the scan: the share of the judged positives the cross-encoder met
    that it scores at or above the threshold. None when it met none, or scored nothing (an undenoised arm
    without scores), since 0 of them flagged would then say nothing about the cross-encoder."""
    if "probability_histogram" in summary and not sum(histogram_counts(summary)):
        return None
    return _ratio(summary.get("positives_flagged"), summary.get("positives_in_scan"))


def coverage(summary: dict[str, Any]) -> float | None:
    """Labelled / queries: the share of the unlabelled queries the labeller gave a pseudo-positive."""
    return _ratio(summary.get("labelled"), summary.get("queries"))


def negatives_per_labelled(summary: dict[str, Any]) -> float | None:
    """The mean number of pseudo-negatives per labelled query (negatives / labelled)."""
    return _ratio(summary.get("negatives"), summary.get("labelled"))


def precision(summary: dict[str, Any]) -> float | None:
    """True positives / labelled: the share of pseudo-positives the split's qrels judge relevant; None
    without "labels" (the labeller ran on a split without qrels: nothing to check it against)."""
    labels = summary.get("labels")
    if not isinstance(labels, dict):
        return None
    return _ratio(labels.get("true_positives"), summary.get("labelled"))


def retriever_top1_precision(summary: dict[str, Any]) -> float | None:
    """On the same labelled queries, the share whose retriever's own top-1 the qrels judge relevant: the baseline
    a pseudo-positive must beat to tell the student anything it does not already rank first; None when not
    recorded (audits written before it was) or without labels."""
    labels = summary.get("labels")
    if not isinstance(labels, dict) or labels.get("retriever_top1_relevant") is None:
        return None
    return _ratio(labels.get("retriever_top1_relevant"), summary.get("labelled"))


def audit_rates(role: str, summary: dict[str, Any]) -> dict[str, float | None]:
    """The derived rates of one role's summary (the JSON export's "rates"); {} for a role without any."""
    if role == "denoise":
        return {"drop_rate": drop_rate(summary), "agreement": agreement(summary)}
    if role in ("augment", "augment_audit"):
        return {"coverage": coverage(summary), "negatives_per_labelled_query": negatives_per_labelled(summary),
                "precision": precision(summary), "retriever_top1_precision": retriever_top1_precision(summary)}
    return {}
