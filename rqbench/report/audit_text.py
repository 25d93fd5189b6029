"""The tables and words of a report's Audits section, shared by the terminal, Markdown and HTML renderers.

One table per audited role (denoised hard negatives, pseudo-labels, the false-negative audit of mined
negatives and its teachers), one row per variant and seed (and teacher), every
cell already text; a sentence under each table says what its columns mean, so that a reader judges the
training data without opening the artifacts. Pure functions of a `Report`; the rates come from
`rqbench.report.audits`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from rqbench.report.audits import (
    agreement,
    coverage,
    drop_rate,
    histogram_text,
    negatives_per_labelled,
    precision,
    retriever_top1_precision,
)
from rqbench.report.format import DASH

if TYPE_CHECKING:
    from rqbench.report.model import Report

AUDITS_INTRO = ("The training data of each variant's own denoise and augment stages, once per variant and seed "
                "(the same on every evaluation set).")
UNDENOISED = "no filter (undenoised arm)"
PRECISION_FOOTNOTE = (f"Precision {DASH}: the labeller's split had no qrels; precision needs labels: audit the "
                      "labeller on a held-apart labelled split (train.augment_audit_split, its qrels withheld from "
                      "training).")
_HISTOGRAM = "P(relevant) histogram"
_BINS = "in 10 bins from 0.0-0.1 to 0.9-1.0, counts joined by '/'"
DENOISE_KEY = (
    "Kept / dropped: hard negatives scanned in the first-stage ranking that the teacher (the cross-encoder MC, or "
    "a calibrated fusion) kept, or dropped as likely unlabelled positives (P(relevant) at or above the threshold); "
    "filled: negatives drawn from deeper in the ranking to make up the number; short: queries still short of "
    "negatives; drop rate = dropped / (kept + dropped); teacher agreement X% (flagged / met): the teacher calls X% "
    "of the judged positives it met in the scan relevant, and a denoiser that misses judged positives cannot be "
    "trusted to find unlabelled ones; dropped judged non-relevant: dropped candidates the qrels judge 0 (graded "
    f"qrels only); histogram: the teacher's P(relevant) of every scanned candidate {_BINS}."
)
AUGMENT_KEY = (
    "Labelled (coverage): queries whose top candidate the cross-encoder scores above the positive threshold, which "
    "becomes their pseudo-positive (coverage = labelled / queries; the others are dropped); negatives per labelled "
    "query: the mean number of candidates below the negative threshold taken as pseudo-negatives; precision "
    "(true / labelled): pseudo-positives the split's qrels judge relevant; retriever's top-1: on the same labelled "
    "queries, how often the retriever's own first passage is judged relevant (the baseline a pseudo-positive must "
    "beat to teach the student anything; shown only on a labelled split); negatives judged relevant: "
    "pseudo-negatives the qrels judge relevant (false negatives added to training); groups: labelled + "
    f"pseudo-labelled training groups; histogram: P(relevant) of every scored candidate {_BINS}. A labeller audit "
    "row runs the same labeller (cross-encoder, retriever, thresholds, depth) on a held-apart labelled split that "
    "no model involved trains on: its precision is the labeller's, and its groups are not trained on."
)


HYBRID_KEY = (
    "RocketQAv2's hybrid lists: each list is a query's positive and the declared numbers of undenoised negatives "
    "(drawn, seeded, from a retriever's pool) and denoised ones (a teacher's P(relevant) below its threshold); "
    "filled: slots of one source taken from the other when it ran short; short: lists left with fewer negatives; "
    "in both pools: candidates both sources offered (each drawn at most once)."
)


NEGATIVES_KEY = (
    "RocketQA's premise on densely judged qrels: per query all relevant passages but the kept one(s) are hidden, and "
    "the variant's top-k minus the kept passages is mined as hard negatives. Hidden positives: mined negatives that "
    "are hidden relevant passages (false negatives; FN rate = hidden / candidates); judged non-relevant: true hard "
    "negatives; unjudged: outside the judgment pool, counted apart (not known to be non-relevant); hidden reached: "
    "hidden positives mined of all hidden ones."
)
TEACHERS_KEY = (
    "Each teacher removes a mined negative whose P(relevant) reaches the threshold (RocketQA's denoising). Precision "
    "= hidden positives removed / removed (a removal at random has precision equal to the FN rate); recall = hidden "
    "positives removed / hidden positives mined; judged removed: true hard negatives lost; FN rate after: hidden "
    "positives left / candidates left."
)


class AuditTable(NamedTuple):
    """One role's table: the first `n_names` columns name the row (variant, seed), the rest are values."""

    role: str
    title: str
    headers: list[str]
    n_names: int
    rows: list[list[str]]
    key: str  # what the columns mean, one sentence
    footnote: str  # "" unless a row needs one


def _pct(x: float | None) -> str:
    return DASH if x is None else f"{100 * x:.1f}%"


def _num(x: Any) -> str:
    return DASH if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def _seed(seed: Any) -> str:
    return DASH if seed is None else str(seed)


def _denoise_row(name: str, seed: Any, s: dict[str, Any]) -> list[str]:
    filtered = s.get("denoise", True) is not False
    met, flagged = s.get("positives_in_scan"), s.get("positives_flagged")
    agree = agreement(s)
    return [name, _seed(seed), _num(s.get("threshold")) if filtered else DASH, _num(s.get("queries")),
            _num(s.get("kept")), _num(s.get("dropped")), _num(s.get("filled")), _num(s.get("short")),
            _pct(drop_rate(s)) if filtered else UNDENOISED,
            DASH if agree is None else f"{_pct(agree)} ({flagged}/{met})",
            _num(s.get("dropped_judged_nonrelevant")) if filtered else DASH, histogram_text(s) or DASH]


def _augment_row(name: str, seed: Any, s: dict[str, Any], trained_on: bool = True) -> list[str]:
    labels = s.get("labels") if isinstance(s.get("labels"), dict) else None
    prec, top1 = precision(s), retriever_top1_precision(s)
    per_query = negatives_per_labelled(s)
    groups = (f"{s['labelled_groups']} + {s['pseudo_labelled_groups']}"
              if trained_on and "labelled_groups" in s and "pseudo_labelled_groups" in s else DASH)
    return [name, _seed(seed), f"{_num(s.get('positive_threshold'))} / {_num(s.get('negative_threshold'))}",
            _num(s.get("queries")), f"{_num(s.get('labelled'))} ({_pct(coverage(s))})",
            DASH if per_query is None else f"{per_query:.2f}",
            DASH if prec is None or labels is None else f"{_pct(prec)} ({labels['true_positives']}/{s['labelled']})",
            DASH if top1 is None or labels is None
            else f"{_pct(top1)} ({labels['retriever_top1_relevant']}/{s['labelled']})",
            _num(labels.get("negatives_judged_relevant")) if labels else DASH, groups, histogram_text(s) or DASH]


def _negatives_row(name: str, seed: Any, s: dict[str, Any]) -> list[str]:
    t, settings = s.get("totals") or {}, s.get("settings") or {}
    queries = s.get("queries")
    return [name, _seed(seed), f"{settings.get('depth', DASH)} / {settings.get('keep', DASH)} / "
            f"{settings.get('rel', DASH)}", _num(queries), _num(t.get("candidates")),
            f"{_num(t.get('hidden_positives'))} ({_pct(t.get('fn_rate'))})",
            f"{_num(t.get('queries_with_fn'))}/{_num(queries)}", _num(t.get("judged_nonrelevant")),
            _num(t.get("unjudged")), f"{_num(t.get('hidden_positives'))}/{_num(t.get('hidden_total'))}"]


def _teacher_rows(name: str, seed: Any, s: dict[str, Any]) -> list[list[str]]:
    rows = []
    for teacher, r in (s.get("teachers") or {}).items():
        rows.append([name, _seed(seed), teacher, _num(r.get("threshold")), _num(r.get("removed")),
                     _num(r.get("removed_hidden")), _pct(r.get("precision")), _pct(r.get("recall")),
                     _num(r.get("removed_judged_nonrelevant")), _pct(r.get("fn_rate_after"))])
    return rows


def _negatives_tables(report: Report) -> list[AuditTable]:
    miners: list[list[str]] = []
    teachers: list[list[str]] = []
    for name, roles in report.audits.items():
        for seed, summary in roles.get("negatives_audit", []):
            miners.append(_negatives_row(name, seed, summary))
            teachers += _teacher_rows(name, seed, summary)
    tables = []
    if miners:
        tables.append(AuditTable(
            "negatives_audit", "False negatives among mined hard negatives",
            ["Variant", "Seed", "Depth / kept / relevant >=", "Queries", "Candidates", "Hidden positives (FN rate)",
             "Queries with FN", "Judged non-relevant", "Unjudged", "Hidden reached"], 2, miners, NEGATIVES_KEY, ""))
    if teachers:
        tables.append(AuditTable(
            "negatives_teachers", "Teachers removing false negatives",
            ["Variant", "Seed", "Teacher", "Threshold", "Removed", "Hidden removed", "Precision", "Recall",
             "Judged removed", "FN rate after"], 3, teachers, TEACHERS_KEY, ""))
    return tables


def _hybrid_row(name: str, seed: Any, s: dict[str, Any]) -> list[str]:
    return [name, _seed(seed), _num(s.get("lists")),
            f"{_num(s.get('undenoised_per_list'))} + {_num(s.get('denoised_per_list'))}",
            _num(s.get("from_undenoised")), _num(s.get("from_denoised")),
            f"{_num(s.get('filled_from_undenoised'))} / {_num(s.get('filled_from_denoised'))}", _num(s.get("short")),
            _num(s.get("in_both_pools"))]


def audit_tables(report: Report) -> list[AuditTable]:
    """The Audits section's tables, denoise first; [] for a report without audits."""
    rows: dict[str, list[list[str]]] = {"denoise": [], "augment": [], "hybrid": []}
    unlabelled = False
    for name, roles in report.audits.items():
        for seed, summary in roles.get("denoise", []):
            rows["denoise"].append(_denoise_row(name, seed, summary))
        for seed, summary in roles.get("hybrid", []):
            rows["hybrid"].append(_hybrid_row(name, seed, summary))
        audited = bool(roles.get("augment_audit"))
        for seed, summary in roles.get("augment", []):
            rows["augment"].append(_augment_row(name, seed, summary))
            unlabelled |= not audited and not isinstance(summary.get("labels"), dict)
        for seed, summary in roles.get("augment_audit", []):  # the same labeller where its precision shows
            where = f"'{summary['split']}'" if summary.get("split") else "a labelled split"
            rows["augment"].append(_augment_row(f"{name}: labeller audit on {where}, not trained on", seed, summary,
                                                trained_on=False))
    tables = []
    if rows["denoise"]:
        tables.append(AuditTable(
            "denoise", "Denoised hard negatives",
            ["Variant", "Seed", "Threshold", "Queries", "Kept", "Dropped", "Filled", "Short", "Drop rate",
             "Teacher agreement", "Dropped judged non-relevant", _HISTOGRAM], 2, rows["denoise"], DENOISE_KEY, ""))
    if rows["hybrid"]:
        tables.append(AuditTable(
            "hybrid", "Hybrid lists",
            ["Variant", "Seed", "Lists", "Negatives per list (undenoised + denoised)", "From undenoised",
             "From denoised", "Filled (from undenoised / denoised)", "Short", "In both pools"], 2, rows["hybrid"],
            HYBRID_KEY, ""))
    if rows["augment"]:
        tables.append(AuditTable(
            "augment", "Pseudo-labels",
            ["Variant", "Seed", "Thresholds (pos. / neg.)", "Queries", "Labelled (coverage)",
             "Negatives per labelled query", "Precision", "Retriever's top-1", "Negatives judged relevant",
             "Groups (labelled + pseudo)",
             _HISTOGRAM], 2, rows["augment"], AUGMENT_KEY, PRECISION_FOOTNOTE if unlabelled else ""))
    return tables + _negatives_tables(report)
