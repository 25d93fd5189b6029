"""Suite files: the TOML schema (unknown keys rejected with "did you mean"), grid expansion into
variants, and each variant's resolved config.

    [suite]
    name = "smoke"                       # default: the file name without .toml
    dataset = "msmarco-dl19-mini"        # short name under the data root, a path, or an ir_datasets id
    split = "test"
    measures = ["RR@10", "R@100", "Success@100", "nDCG@10"]
    baseline = "bm25"
    depth = 1000                         # hits retrieved per query
    exclude_query_id = false             # BEIR convention: drop a hit whose id equals the query id
    seed = 0
    seeds = [13, 14, 15]                 # optional: every trained variant runs once per seed (an "arm")
    notes = ["..."]                      # shown in every report (deviations from a paper, changed arms)

    [[variants]]
    name = "bm25"
    backend = "bm25"
    params = { k1 = 0.9, b = 0.4 }
    grid = { b = [0.4, 0.68] }           # optional: cartesian product -> bm25[b=0.4], bm25[b=0.68]

    [[variants]]
    name = "hybrid"                      # a fusion of other variants' runs (rqbench_backends.fusion)
    backend = "fusion"
    fuse = { runs = ["bm25", "dense"] }  # 2-8 variants or arms; optional depth: how deep each run is taken
    params = { method = "rrf" }          # or combsum, combmnz, interpolate, max, calibrated (+ fit_split)

    [[evaluation]]                       # optional, repeatable: evaluation sets (default: dataset/split above)
    name = "dl19"                        # default: the dataset's name
    dataset = "msmarco-dl19"             # default: [suite].dataset
    split = "dl19"
    measures = ["nDCG@10"]               # default: [suite].measures
    exclude_query_id = false             # default: [suite].exclude_query_id

    [[contrasts]]                        # optional, repeatable: a claim to test, arm a against arm b
    name = "cross-batch"
    a = "de-crossbatch"                  # arms (trained variants) or variants
    b = "de-inbatch"
    expect = "a>b"                       # the claim: "a>b", "a<b", or "a=b" (equivalent within margin)
    margin = 0.01                        # "a=b" only: holds when the CI of a - b lies within +-margin
    claim = "cross-batch negatives beat in-batch ones (RocketQA, Table 3)"
    measures = ["RR@10"]                 # default: each evaluation set's first measure
    evaluations = ["scifact"]            # default: every set both are evaluated on

    [negatives_audit]                    # optional: false negatives among mined negatives (rqbench.suite.audit)
    evaluation = "dl19"                  # a densely judged evaluation set (default: the first)
    miners = ["bm25"]                    # whose top-depth is mined; teachers = calibrated fusions or re-rankers
    teachers = ["teacher"]
    depth = 50                           # keep = 1, rel = 1, seed = 0, threshold = 0.1 by default

    [check]                              # optional: expected values (first evaluation set) for `rqbench check`
    tolerance = 0.001                    # absolute; a larger drop is a regression
    two_sided = false                    # true: any deviation beyond tolerance fails (reproductions)
    [check.expected.bm25]
    "nDCG@10" = 0.6789

A `[dataset]` table may replace the `dataset` string: {path, format, corpus, queries, qrels, name}.
`[suite].dataset` is also what variants train on (`train.dataset` overrides it). A variant may name
other variants in its `[variants.train]` table (`mine_from`, `init_from`, `reranker_from`): `rqbench.plan`
resolves the names to those variants' artifacts. `model_from = "v2"` (instead of a train table) evaluates
another variant's trained model with this variant's backend and params: a joint (RocketQAv2) run's re-ranker
as a cross-encoder, or a checkpoint read at other lengths (`rqbench.plan.models`). `evaluate_on = ["dl19"]`
restricts a variant to some evaluation sets.

Seeds: with `seeds` (in [suite], or per variant) a variant that trains becomes an *arm*, one variant per
seed named `<arm>[seed=<s>]` (after any grid suffix: `x[lr=0.1,seed=13]`). The seed is the trainer's and
the training groups' (data order, sampled negatives, dropout), so arms with the same seed see the same
data order. A reference (`mine_from`, `init_from`, `fuse.runs`, `model_from`) to an arm means the same seed's
variant of it: MD1 seed 14 mines with MD0 seed 14, and a fusion of a seeded arm (or a variant taking its
model) is one variant per seed. Contrasts
name arms; reports average an arm over its seeds.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.suite.audit import parse_negatives_audit
from rqbench.suite.claims import Contrast, parse_contrasts, parse_splits, seed_list
from rqbench.suite.parts import EvalSet, canonical_measure, canonical_measures, parse_evaluations
from rqbench.suite.parts import TextWhere as _Where
from rqbench.suite.parts import check_tolerance as _check_tolerance
from rqbench.suite.parts import finite_number as _finite
from rqbench.suite.parts import reject_unknown as _reject_unknown
from rqbench.suite.variants import VARIANT_KEYS, Variant, expand_grid, parse_variants  # noqa: F401 (re-exported)

SUITE_KEYS = {"name", "description", "dataset", "split", "measures", "baseline", "depth",
              "exclude_query_id", "seed", "seeds", "notes"}
CHECK_KEYS = {"tolerance", "two_sided", "expected", "n_resamples"}
TOP_KEYS = {"suite", "dataset", "variants", "check", "evaluation", "contrasts", "splits", "negatives_audit"}
DEFAULT_MEASURES = ["RR@10", "R@100", "R@1000", "Success@100", "nDCG@10"]


@dataclass(frozen=True)
class CheckSpec:
    tolerance: float = 0.001
    two_sided: bool = False
    n_resamples: int = 10000
    expected: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    description: str
    dataset: str | dict[str, Any]
    split: str
    measures: list[str]
    baseline: str | None
    depth: int
    exclude_query_id: bool
    seed: int
    variants: list[Variant]
    check: CheckSpec
    text: str  # the file's text, hashed into the record
    evaluations: list[EvalSet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown in every report: deviations, changed definitions
    contrasts: list[Contrast] = field(default_factory=list)
    splits: list[Any] = field(default_factory=list)  # derived splits of `dataset` (rqbench.data.derived.SplitSpec)
    negatives_audit: Any = None  # [negatives_audit] (rqbench.suite.audit.NegativesAudit), or None

    def where(self, line: int | None = None) -> str:
        return f"{self.path}:{line}" if line else str(self.path)

    def all_measures(self) -> list[str]:
        """Every measure of every evaluation set, in first-seen order."""
        seen: list[str] = []
        for ev in self.evaluations:
            seen.extend(m for m in ev.measures if m not in seen)
        return seen

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise RqbenchError(f"suite has no variant '{name}'" + did_you_mean(name, self.variant_names()),
                           self.path)

    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    def arms(self) -> dict[str, list[Variant]]:
        """Arm (or unseeded variant) name -> its variants, in suite order."""
        out: dict[str, list[Variant]] = {}
        for v in self.variants:
            out.setdefault(v.arm_name, []).append(v)
        return out

    def select(self, names: list[str]) -> list[Variant]:
        """The variants named in `names`; an arm's name selects every seed of it."""
        arms = self.arms()
        chosen: list[Variant] = []
        for name in names:
            found = [self.variant(name)] if name in self.variant_names() else arms.get(name)
            if not found:
                known = [*arms, *self.variant_names()]
                raise RqbenchError(f"suite has no variant '{name}'" + did_you_mean(name, known), self.path)
            chosen += [v for v in found if v not in chosen]
        return chosen

    def reference(self, name: str, by: Variant) -> Variant:
        """The variant that `by`'s reference (`mine_from`, `init_from`) to `name` means: the variant of
        that name, or, for an arm, its variant with `by`'s seed."""
        if name in self.variant_names():
            return self.variant(name)
        for v in self.arms().get(name, []):
            if v.seed == by.seed:
                return v
        raise RqbenchError(f"'{by.name}' references arm '{name}', which has no variant with seed {by.seed}",
                           self.path, by.line)


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    if not path.exists():
        raise RqbenchError("suite file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RqbenchError(f"not valid UTF-8 (byte {exc.start})", path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        problem = re.sub(r" \(at line.*", "", msg)
        raise RqbenchError(f"invalid TOML: {problem}", path, int(m.group(1)) if m else None) from None
    return parse_suite(data, path, text)


def parse_suite(data: dict[str, Any], path: Path, text: str) -> Suite:
    w = _Where(path, text)
    _reject_unknown(data, TOP_KEYS, w, "top-level key")
    head = data.get("suite")
    if not isinstance(head, dict):
        raise w.error("missing [suite] table")
    _reject_unknown(head, SUITE_KEYS, w, "[suite] key")

    dataset: str | dict[str, Any] | None = head.get("dataset", data.get("dataset"))
    if "dataset" in head and "dataset" in data:
        raise w.error("dataset given twice ([suite].dataset and [dataset])", w.line_of("dataset"))
    if dataset is None:
        raise w.error("[suite] needs a dataset", w.line_of("suite"))
    if not isinstance(dataset, str | dict):
        raise w.error("dataset must be a string or a table", w.line_of("dataset"))
    if isinstance(dataset, str) and not dataset.strip():
        raise w.error("dataset is empty", w.line_of("dataset"))

    name = _typed(head, "name", str, path.stem, w)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise w.error(f"suite name '{name}' may use letters, digits, '-', '_' and '.'", w.line_of("name"))
    measures = _typed(head, "measures", list, DEFAULT_MEASURES, w)
    if not measures or not all(isinstance(m, str) for m in measures):
        raise w.error("measures must be a non-empty list of strings", w.line_of("measures"))
    measures = canonical_measures(measures, w, w.line_of("measures", w.line_of("suite") or 1))
    depth = _typed(head, "depth", int, 1000, w)
    if depth < 1:
        raise w.error("depth must be at least 1", w.line_of("depth"))

    seeds = seed_list(head, w, w.line_of("seeds", w.line_of("suite") or 1))
    variants = parse_variants(data.get("variants"), depth, seeds, w)
    names = [v.name for v in variants]
    arm_names = list(dict.fromkeys(v.arm_name for v in variants))
    baseline = _typed(head, "baseline", str, arm_names[0], w)
    if baseline not in names and baseline not in arm_names:
        raise w.error(f"baseline '{baseline}' is not a variant" + did_you_mean(baseline, arm_names),
                      w.line_of("baseline"))

    split = _typed(head, "split", str, "test", w)
    exclude = _typed(head, "exclude_query_id", bool, False, w)
    evaluations = parse_evaluations(data.get("evaluation"), dataset, split, list(measures), exclude, w, head)
    eval_names = {ev.name for ev in evaluations}
    for var in variants:
        for name_ in var.evaluate_on or ():
            if name_ not in eval_names:
                raise w.error(f"evaluate_on names unknown evaluation set '{name_}'" + did_you_mean(name_, eval_names),
                              w.line_of("evaluate_on", var.line or 1))
    return Suite(
        path=path, name=name, description=_typed(head, "description", str, "", w),
        dataset=dataset, split=split, measures=list(measures),
        baseline=baseline, depth=depth, exclude_query_id=exclude,
        seed=_typed(head, "seed", int, 0, w), variants=variants,
        check=_parse_check(data.get("check"), list(dict.fromkeys(names + arm_names)), evaluations[0].measures, w),
        text=text,
        evaluations=evaluations,
        notes=_string_list(head, "notes", w),
        contrasts=parse_contrasts(data.get("contrasts"), arm_names, evaluations, w),
        splits=parse_splits(data.get("splits"), w),
        negatives_audit=parse_negatives_audit(data.get("negatives_audit"), arm_names, evaluations, w),
    )


def _string_list(table: dict[str, Any], key: str, w: _Where) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise w.error(f"'{key}' must be a list of strings", w.line_of(key))
    return list(value)


def _parse_check(raw: Any, variants: list[str], measures: list[str], w: _Where) -> CheckSpec:
    """[check]; expected values name variants and measures of the first evaluation set (aliases allowed)."""
    if raw is None:
        return CheckSpec()
    if not isinstance(raw, dict):
        raise w.error("[check] must be a table", w.line_of("check"))
    _reject_unknown(raw, CHECK_KEYS, w, "[check] key")
    tolerance = _check_tolerance(raw, 0.001, w)
    expected = raw.get("expected", {})
    parsed: dict[str, dict[str, float]] = {}
    for variant, values in expected.items():
        if variant not in variants:
            raise w.error(f"[check.expected] names unknown variant '{variant}'" + did_you_mean(variant, variants),
                          w.line_of(f"check.expected.{variant}") or w.line_of(variant))
        if not isinstance(values, dict):
            raise w.error(f"[check.expected.{variant}] must map measures to numbers", w.line_of(variant))
        for measure, value in values.items():
            if not _finite(value):
                raise w.error(f"expected {measure} = {value!r}: not a finite number", w.line_of(measure))
        table_line = w.line_of(f"check.expected.{variant}") or w.line_of(variant)
        names = [canonical_measure(m, w, w.line_of(m, table_line or 1) or table_line) for m in values]
        for i, (given, name) in enumerate(zip(values, names, strict=True)):
            if name in names[:i]:
                raise w.error(f"[check.expected.{variant}] names {name} twice", w.line_of(given, table_line or 1))
            if name not in measures:
                raise w.error(f"[check.expected.{variant}] names '{given}', which the suite does not measure on "
                              f"its first evaluation set ({', '.join(measures)})", w.line_of(given))
        parsed[variant] = {name: float(val) for name, val in zip(names, values.values(), strict=True)}
    return CheckSpec(tolerance=float(tolerance), two_sided=_typed(raw, "two_sided", bool, False, w),
                     n_resamples=_typed(raw, "n_resamples", int, 10000, w), expected=parsed)


def _typed(table: dict[str, Any], key: str, kind: type, default: Any, w: _Where) -> Any:
    if key not in table:
        return default
    value = table[key]
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise w.error(f"'{key}' must be {kind.__name__}, got {type(value).__name__} {value!r}", w.line_of(key))
    return value
