"""The Report and `build_report`: all the computing a report needs, done once from records.

Records are grouped by evaluation set (dataset name, split); the newest record of each (variant, set)
is used, and each variant is compared with the baseline on the same set's queries (or every pair of
variants, with pairs="all"), with a family-wise correction (Holm by default) within the set. One
evaluation set gives one flat Report (as before several sets existed); several give a Report whose
`sets` holds one such Report per evaluation set. Per-query values come from a record's sidecar file
(records read by `read_records`) or from its own "per_query" key ({measure: {qid: value}}, as
`rqbench.run_files.records_from_runs` makes them).

Before anything else, the seed records of each multi-seed arm are replaced, per set, by one record of the
arm averaged over its seeds (`rqbench.report.seeds`), so every comparison sees the arm, not one seed.
After the sets are built, the suite's declared contrasts are tested across them
(`rqbench.report.contrasts`), and the audits of the variants' training data (denoise, augment) are
gathered once for the whole report (`rqbench.report.audits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.records import load_per_query
from rqbench.report.audits import Audits, collect_audits
from rqbench.report.contrasts import evaluate_contrasts, parse_contrasts
from rqbench.report.format import DASH, DOWN, UP, measure_family
from rqbench.report.meta import check_same_data, set_meta
from rqbench.report.outputs import ReportOutputs
from rqbench.report.seeds import SeedInfo, aggregate_set, report_name
from rqbench.report.significance import check_options, compare_set

if TYPE_CHECKING:
    from rqbench.report.contrasts import ContrastResult
    from rqbench.stats import PairedComparison

EvalSet = tuple[Any, Any]  # (dataset name, split), as recorded (None where missing)

_FALLBACK_DEFINITIONS = {
    "R": "trec_eval recall at the cut-off (relevant retrieved / all relevant)",
    "Success": "hit rate at the cut-off (1 if any relevant document is retrieved)",
    "RR": "reciprocal rank of the first relevant document, averaged over all judged queries (MRR)",
    "nDCG": "normalised discounted cumulative gain (trec_eval ndcg_cut)",
    "AP": "average precision (trec_eval map)",
    "P": "precision at the cut-off",
}


@dataclass
class Report(ReportOutputs):
    """Everything a renderer needs, computed once from the latest record of each variant (per set).

    With one evaluation set every field describes it and `sets` is empty. With several, `sets` holds one
    Report per set (in the order the sets first appear in the records) and the per-variant fields here
    (metrics, comparisons, curves, per_query, timings and meta's per-variant maps) are empty: variants,
    measures, definitions, baseline, notes and meta's created/datasets/stats cover all sets.
    """

    suite: str
    baseline: str | None
    measures: list[str]
    alpha: float
    variants: list[str]  # in record order
    metrics: dict[str, dict[str, float]]  # variant -> measure -> value
    definitions: dict[str, str]  # measure -> definition text
    comparisons: dict[str, dict[str, PairedComparison]]  # measure -> variant -> comparison vs baseline
    curves: dict[str, dict[str, dict[str, float]]]  # variant -> "R"/"Success" -> {cutoff: value}
    per_query: dict[str, dict[str, dict[str, float]]]  # variant -> measure -> qid -> value
    timings: dict[str, list[dict]]  # variant -> record["stages"]
    meta: dict  # dataset, env, created range, n_queries, stats settings (see build_report)
    notes: list[str] = field(default_factory=list)  # caveats the reader must see (mismatched data, ...)
    eval_set: EvalSet | None = None  # (dataset, split) of a one-set report; None when `sets` is used
    slug: str = ""  # file-name-safe name of the evaluation set (figure names), unique within the report
    sets: list[Report] = field(default_factory=list)  # one Report per evaluation set, when several
    test: str = "randomization"  # whose (corrected) p-value decides the marks: "randomization" or "t"
    correction: str = "holm"  # family-wise correction per measure and set: "holm", "bonferroni", "none"
    pairs: str = "baseline"  # "baseline": each variant vs the baseline; "all": every pair of variants too
    # measure -> (a, b) -> a vs b (difference a - b), every pair i < j in `variants` order; pairs="all" only
    pairwise: dict[str, dict[tuple[str, str], PairedComparison]] = field(default_factory=dict)
    # arm -> {"seeds": [13, 14, 15], "per_seed": {seed: {measure: value}}, "sd": {measure: sample sd}}: the
    # multi-seed arms of a one-set report (empty for the report holding `sets`, and without seeds)
    seeds: dict[str, SeedInfo] = field(default_factory=dict)
    # every test of the suite's declared contrasts (on the report itself, never on a member of `sets`)
    contrasts: list[ContrastResult] = field(default_factory=list)
    # variant -> role ("denoise", "augment") -> [(seed or None, summary)]: the audits of the variants' training
    # data, once per variant and seed whatever the set (on the report itself; empty without audits)
    audits: Audits = field(default_factory=dict)
    findings: str = ""  # a person's reading of the results (Markdown; `rqbench report --findings`), shown as such

    @property
    def sections(self) -> list[Report]:
        """The one-set reports to render a table for: `sets`, or the report itself."""
        return self.sets or [self]

    @property
    def label(self) -> str:
        """'dataset (split)' of a one-set report ('dataset' alone without a split); the sets' labels
        joined with ', ' otherwise."""
        if self.eval_set is None:
            return ", ".join(s.label for s in self.sets)
        name, split = self.eval_set
        return f"{name or DASH}" + (f" ({split})" if split else "")

    @property
    def seeded(self) -> bool:
        """True when some evaluation set of the report has a multi-seed arm."""
        return any(s.seeds for s in self.sections)

    @property
    def from_runs(self) -> bool:
        """True when every record was made from a run file (`rqbench compare`), not by a suite."""
        return bool(self.meta.get("from_runs"))

    def comparison(self, measure: str, variant: str) -> PairedComparison | None:
        return self.comparisons.get(measure, {}).get(variant)

    def mark(self, measure: str, variant: str) -> str:
        """UP / DOWN when significantly better / worse than the baseline at alpha (by `test`'s p-value
        after `correction`), else ""."""
        return self._mark(self.comparison(measure, variant))

    def pair_mark(self, measure: str, a: str, b: str) -> str:
        """UP / DOWN when `a` is significantly better / worse than `b` (a pairwise comparison), else ""."""
        return self._mark(self.pairwise.get(measure, {}).get((a, b)))

    @property
    def options(self) -> dict[str, str]:
        """The report options: test, correction, pairs."""
        return {"test": self.test, "correction": self.correction, "pairs": self.pairs}

    def _mark(self, c: PairedComparison | None) -> str:
        if c is None or not c.significant(self.alpha, self.test):
            return ""
        return UP if c.diff > 0 else DOWN if c.diff < 0 else ""


def eval_set_of(record: dict) -> EvalSet:
    """(dataset name, split) a record was evaluated on."""
    ds = record.get("dataset") or {}
    return ds.get("name"), ds.get("split", (record.get("config") or {}).get("split"))


def evaluation_name(record: dict) -> str:
    """The name of the suite's evaluation set a record is for (its "evaluation" name; the dataset's name
    in records written before suites had several): what a contrast's `evaluations` lists."""
    return str((record.get("evaluation") or {}).get("name") or (record.get("dataset") or {}).get("name") or "")


def latest_by_eval_set(records: list[dict]) -> dict[EvalSet, dict[str, dict]]:
    """Evaluation set -> variant -> its newest record; sets in order of first appearance, variants in
    order of first appearance in all the records (so that every set lists them in the same order)."""
    out: dict[EvalSet, dict[str, dict]] = {}
    for rec in records:
        out.setdefault(eval_set_of(rec), {})[rec["variant"]] = rec
    order = {v: i for i, v in enumerate(dict.fromkeys(rec["variant"] for rec in records))}
    return {key: dict(sorted(group.items(), key=lambda item: order[item[0]])) for key, group in out.items()}


def _slug(eval_set: EvalSet, taken: set[str]) -> str:
    name, split = eval_set
    base = re.sub(r"[^A-Za-z0-9.=-]+", "_", f"{name or 'none'}_{split or 'none'}").strip("_") or "set"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


# --------------------------------------------------------------------------------------------- build


def check_settings(alpha: float, test: str, correction: str, pairs: str) -> dict[str, str]:
    """`build_report`'s checks of its options (the options as a dict; a one-line RqbenchError for a bad
    one), for a caller that wants them before any work, as `rqbench compare` before reading the runs."""
    if not 0.0 < alpha < 1.0:
        raise RqbenchError(f"alpha must be between 0 and 1, got {alpha}")
    return check_options(test, correction, pairs)


def build_report(
    records: list[dict],
    baseline: str | None = None,
    measures: list[str] | None = None,
    alpha: float = 0.05,
    n_resamples: int = 10000,
    seed: int = 0,
    *,
    test: str = "randomization",
    correction: str = "holm",
    pairs: str = "baseline",
    contrasts: list[dict] | None = None,
) -> Report:
    """A Report from records as read by `read_records` or with inline "per_query" values (the newest
    record of each variant on each evaluation set is used).

    `baseline` None takes the records' config "baseline"; if that variant has no record the report
    has no comparisons with a baseline and says why (per set, for a set it was not evaluated on). An
    explicitly named unknown baseline or measure, or an unknown option, is an error. `test`
    ("randomization" or "t") chooses whose p-value decides the marks, `correction` ("holm", "bonferroni"
    or "none") the family-wise correction per measure within a set, `pairs` ("baseline" or "all")
    whether every pair of variants is compared too.

    Seeded records (with an "arm") count as their arm, averaged over the seeds (`Report.seeds`).
    `contrasts` (dicts shaped like a record's "suite_contrasts") replaces the newest record's declared
    contrasts; their tests are `Report.contrasts`, corrected together with `correction`. Records' "audits"
    become `Report.audits` (newest record of each variant and seed, on any set).
    """
    if not records:
        raise RqbenchError("no records to report on (run the suite first)")
    options = check_settings(alpha, test, correction, pairs)
    groups = latest_by_eval_set(records)
    seed_notes: dict[EvalSet, list[str]] = {key: [] for key in groups}
    seeds: dict[EvalSet, dict[str, SeedInfo]] = {}
    for key, group in groups.items():  # an arm's seeds become one record of the arm, per set
        groups[key], seeds[key] = aggregate_set(group, seed_notes[key])
    latest = [rec for group in groups.values() for rec in group.values()]
    variants = list(dict.fromkeys(report_name(r) for r in records))
    newest = max(latest, key=lambda r: str(r.get("created", "")))
    # the suite's own notes (its [suite].notes: deviations, why arms changed), from the newest record
    notes: list[str] = list(newest.get("suite_notes") or [])

    suites = list(dict.fromkeys(str(r.get("suite", "")) for r in latest))
    if len(suites) > 1:
        notes.append("records come from several suites: " + ", ".join(suites))

    known_measures = list(dict.fromkeys(m for r in latest for m in (r.get("metrics") or {})))
    if measures is None:
        measures = _default_measures(latest, known_measures)
    else:
        measures = list(dict.fromkeys(measures))
        for m in measures:
            if m not in known_measures:
                raise RqbenchError(f"no record has measure '{m}'" + did_you_mean(m, known_measures))
    if not measures:
        raise RqbenchError("the records hold no metrics")

    baseline = _resolve_baseline(baseline, variants, latest, notes)
    definitions = _definitions(measures, latest)
    stats = {"n_resamples": n_resamples, "seed": seed, "alpha": alpha}
    common = {"suite": suites[-1] if suites else "", "measures": measures, "alpha": alpha,
              "definitions": definitions, **options}
    several = len(groups) > 1
    if not several:
        notes += seed_notes[next(iter(groups))]
    taken: set[str] = set()
    sections = [
        _build_set(key, group, baseline if not several or baseline in group else None, common,
                   {**stats, **options}, notes=seed_notes[key] if several else notes, slug=_slug(key, taken),
                   seeds=seeds[key])
        for key, group in groups.items()
    ]
    for section in sections if several else []:
        if baseline is not None and baseline not in section.variants:
            section.notes.insert(0, f"the baseline '{baseline}' has no record on this evaluation set, so "
                                    "there are no comparisons there")
        notes += [f"{section.label}: {n}" for n in section.notes]

    dirty = list(dict.fromkeys(r["variant"] for r in latest if ((r.get("env") or {}).get("git") or {}).get("dirty")))
    if dirty:
        notes.append("produced from a git checkout with uncommitted changes: " + ", ".join(dirty))
    declared = parse_contrasts(newest.get("suite_contrasts") if contrasts is None else contrasts, notes)
    tested = evaluate_contrasts(declared, sections, {key: _set_name(group) for key, group in groups.items()},
                                groups, {**stats, **options}) if declared else []
    audits = collect_audits(records)
    if not several:
        sections[0].contrasts, sections[0].audits = tested, audits
        return sections[0]

    created = sorted(str(r["created"]) for r in latest if r.get("created"))
    meta = {
        "dataset": {},
        "datasets": [ds for s in sections for ds in s.meta["datasets"]],
        "env": {}, "n_queries": {}, "record_ids": {}, "suite_hash": {}, "backend": {}, "artifact_hashes": {},
        "created": (created[0], created[-1]) if created else (None, None),
        "suite_file": next((r.get("suite_file") for r in latest if r.get("suite_file")), None),
        "stats": stats,
        "from_runs": all(s.meta["from_runs"] for s in sections),
        "run_files": list({tuple(f.values()): f for s in sections for f in s.meta["run_files"]}.values()),
    }
    return Report(**common, baseline=baseline, variants=variants, metrics={}, comparisons={}, curves={},
                  per_query={}, timings={}, meta=meta, notes=notes, sets=sections, contrasts=tested, audits=audits)


def _set_name(group: dict[str, dict]) -> str:
    """The evaluation name of a set's records (the first that has one)."""
    return next((name for rec in group.values() if (name := evaluation_name(rec))), "")


def _build_set(
    eval_set: EvalSet,
    latest: dict[str, dict],
    baseline: str | None,
    common: dict[str, Any],
    settings: dict[str, Any],
    *,
    notes: list[str],
    slug: str,
    seeds: dict[str, SeedInfo],
) -> Report:
    """The Report of one evaluation set: `latest` maps each variant to its newest record on that set;
    `settings` holds the statistics settings (n_resamples, seed, alpha) and the options."""
    variants = list(latest)
    metrics = {v: dict(r.get("metrics") or {}) for v, r in latest.items()}
    # each evaluation set shows the measures its records have (sets may declare different ones)
    measures = [m for m in common["measures"] if any(m in metrics[v] for v in variants)] or common["measures"]
    common = {**common, "measures": measures}

    per_query: dict[str, dict[str, dict[str, float]]] = {}
    unplaced = [v for v, rec in latest.items() if "_path" not in rec and "per_query" not in rec]
    if unplaced:  # records straight from a pipeline, not read back: the sidecar cannot be located
        notes.append("per-query values not loaded for " + ", ".join(unplaced) + " (records not read with "
                     "read_records), so they have no comparisons")
    for v, rec in latest.items():
        sidecar = rec["per_query"] if "per_query" in rec else load_per_query(rec) if v not in unplaced else {}
        per_query[v] = {m: {str(q): float(x) for q, x in sidecar[m].items()} for m in measures if m in sidecar}
        if v not in unplaced:
            missing = [m for m in measures if m in metrics[v] and m not in sidecar]
            if missing:
                notes.append(f"variant '{v}' has no per-query values for " + ", ".join(missing))

    comparisons, pairwise = compare_set(per_query, variants, baseline, measures, settings, notes)
    check_same_data(latest, notes)
    for v in variants:
        missing = [m for m in measures if m not in metrics[v]]
        if missing:
            notes.append(f"variant '{v}' has no value for " + ", ".join(missing))

    return Report(
        **common,
        baseline=baseline,
        variants=variants,
        metrics=metrics,
        comparisons=comparisons,
        curves={v: {k: dict(c) for k, c in (r.get("curves") or {}).items()} for v, r in latest.items()},
        per_query=per_query,
        timings={v: list(r.get("stages") or []) for v, r in latest.items()},
        meta=set_meta(latest, {k: settings[k] for k in ("n_resamples", "seed", "alpha")}),
        notes=notes,
        eval_set=eval_set,
        slug=slug,
        pairwise=pairwise,
        seeds=seeds,
    )


def _default_measures(latest: list[dict], known: list[str]) -> list[str]:
    """The suite's own order (config "measures") when recorded, else the order metrics appear in."""
    for rec in reversed(latest):
        listed = (rec.get("config") or {}).get("measures")
        if isinstance(listed, list) and listed:
            ordered = [m for m in listed if m in known]
            return ordered + [m for m in known if m not in ordered]
    return known


def _definitions(measures: list[str], latest: list[dict]) -> dict[str, str]:
    definitions: dict[str, str] = {}
    for m in measures:
        for rec in reversed(latest):  # the newest definition wins
            text = (rec.get("measures") or {}).get(m)
            if text:
                definitions[m] = str(text)
                break
        else:
            definitions[m] = f"{m}: " + _FALLBACK_DEFINITIONS.get(measure_family(m), "no definition recorded")
    return definitions


def _resolve_baseline(baseline: str | None, variants: list[str], latest: list[dict], notes: list[str]) -> str | None:
    if baseline is not None:
        if baseline not in variants:
            raise RqbenchError(f"unknown baseline '{baseline}'" + did_you_mean(baseline, variants))
        return baseline
    for rec in reversed(latest):
        configured = (rec.get("config") or {}).get("baseline")
        if configured:
            if configured in variants:
                return str(configured)
            notes.append(
                f"the suite's baseline '{configured}' has no record yet, so there are no comparisons "
                "(run it, or pass a baseline)"
            )
            return None
    return None
