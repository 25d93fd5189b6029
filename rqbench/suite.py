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

    [check]                              # optional: expected values (first evaluation set) for `rqbench check`
    tolerance = 0.001                    # absolute; a larger drop is a regression
    two_sided = false                    # true: any deviation beyond tolerance fails (reproductions)
    [check.expected.bm25]
    "nDCG@10" = 0.6789

A `[dataset]` table may replace the `dataset` string: {path, format, corpus, queries, qrels, name}.
`[suite].dataset` is also what variants train on (`train.dataset` overrides it). A variant may name
other variants in its `[variants.train]` table (`mine_from`, `init_from`): `rqbench.plan` resolves the
names to those variants' artifacts. `evaluate_on = ["dl19"]` restricts a variant to some evaluation sets.

Seeds: with `seeds` (in [suite], or per variant) a variant that trains becomes an *arm*, one variant per
seed named `<arm>[seed=<s>]` (after any grid suffix: `x[lr=0.1,seed=13]`). The seed is the trainer's and
the training groups' (data order, sampled negatives, dropout), so arms with the same seed see the same
data order. A reference (`mine_from`, `init_from`) to an arm means the same seed's variant of it: MD1
seed 14 mines with MD0 seed 14. Contrasts name arms; reports average an arm over its seeds.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.suite_claims import Contrast, check_references, parse_contrasts, parse_splits, rerank_table, seed_list
from rqbench.suite_parts import EvalSet, canonical_measure, canonical_measures, check_file_names, parse_evaluations
from rqbench.suite_parts import TextWhere as _Where
from rqbench.suite_parts import check_tolerance as _check_tolerance
from rqbench.suite_parts import finite_number as _finite
from rqbench.suite_parts import reject_unknown as _reject_unknown

SUITE_KEYS = {"name", "description", "dataset", "split", "measures", "baseline", "depth",
              "exclude_query_id", "seed", "seeds", "notes"}
VARIANT_KEYS = {"name", "backend", "params", "grid", "description", "about", "depth", "train", "evaluate_on", "seeds",
                "rerank"}
# [variants.train] keys the planner itself reads; the rest go to the trainer's config (validated there)
TRAIN_PIPELINE_KEYS = {"split", "nproc", "hard_negatives", "mine_from", "mine_depth", "random_negatives",
                       "dataset", "init_from", "sample", "task",
                       # RocketQA's denoised negatives (step 3) and pseudo-label augmentation (step 4)
                       "denoise_with", "scan_depth", "denoise_threshold", "negatives_per_positive",
                       "augment_with", "augment_from", "augment_split", "augment_depth", "augment_positive",
                       "augment_negative", "augment_negatives", "augment_audit_split"}
# [variants.train] keys whose value names another variant of the suite
CHECK_KEYS = {"tolerance", "two_sided", "expected", "n_resamples"}
TOP_KEYS = {"suite", "dataset", "variants", "check", "evaluation", "contrasts", "splits"}
DEFAULT_MEASURES = ["RR@10", "R@100", "R@1000", "Success@100", "nDCG@10"]


@dataclass(frozen=True)
class Variant:
    name: str
    backend: str
    params: dict[str, Any]
    depth: int
    description: str = ""
    line: int | None = None
    train: dict[str, Any] | None = None  # a training stage runs first; its checkpoint becomes params.model
    evaluate_on: tuple[str, ...] | None = None  # evaluation set names (None: all of them)
    arm: str = ""  # the name before seed expansion, for a variant that is one seed of an arm
    seed: int | None = None  # that seed (the trainer's and the training groups'); None: the suite's seed
    rerank: dict[str, Any] | None = None  # a re-ranker's {run_of: variant, depth: k}
    about: dict[str, Any] = field(default_factory=dict)  # provenance shown in leaderboards (paper, model_size, notes)

    @property
    def arm_name(self) -> str:
        """The arm this variant belongs to (its own name when it is not one seed of an arm)."""
        return self.arm or self.name


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
    variants = _parse_variants(data.get("variants"), depth, seeds, w)
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
    )


def _string_list(table: dict[str, Any], key: str, w: _Where) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise w.error(f"'{key}' must be a list of strings", w.line_of(key))
    return list(value)


def _parse_variants(raw: Any, depth: int, suite_seeds: list[int] | None, w: _Where) -> list[Variant]:
    if not raw:
        raise w.error("suite has no [[variants]]")
    if not isinstance(raw, list):
        raise w.error("variants must be an array of tables ([[variants]])", w.line_of("variants"))
    from rqbench.backend import registry

    known_backends = registry()
    out: list[Variant] = []
    for i, v in enumerate(raw):
        line = w.nth_table("variants", i)
        if not isinstance(v, dict):
            raise w.error("each variant must be a table", line)
        for key in v:
            if key not in VARIANT_KEYS:
                raise w.error(f"unknown variant key '{key}'" + did_you_mean(key, VARIANT_KEYS),
                              w.line_of(key, line or 1))
        for required in ("name", "backend"):
            if not isinstance(v.get(required), str) or not v[required]:
                raise w.error(f"variant needs a '{required}' string", line)
        if v["backend"] not in known_backends:
            raise w.error(f"unknown backend '{v['backend']}'" + did_you_mean(v["backend"], known_backends),
                          w.line_of("backend", line or 1))
        params = v.get("params", {})
        grid = v.get("grid", {})
        if not isinstance(params, dict) or not isinstance(grid, dict):
            raise w.error("params and grid must be tables", line)
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                raise w.error(f"grid '{key}' must be a non-empty list of values", w.line_of(key, line or 1))
            if key in params:
                raise w.error(f"'{key}' is in both params and grid", w.line_of(key, line or 1))
        train = v.get("train")
        if train is not None and not isinstance(train, dict):
            raise w.error("train must be a table ([variants.train])", w.line_of("train", line or 1))
        rerank = rerank_table(v.get("rerank"), w, line)
        about = v.get("about", {})
        if not isinstance(about, dict) or not all(isinstance(x, str | int | float | bool) for x in about.values()):
            raise w.error("about must be a table of strings or numbers (paper, model_size, notes, url, ...)",
                          w.line_of("about", line or 1))
        evaluate_on = v.get("evaluate_on")
        if evaluate_on is not None and (not isinstance(evaluate_on, list) or not evaluate_on
                                        or not all(isinstance(e, str) for e in evaluate_on)):
            raise w.error("evaluate_on must be a non-empty list of evaluation set names",
                          w.line_of("evaluate_on", line or 1))
        vdepth = v.get("depth", depth)
        if not isinstance(vdepth, int) or isinstance(vdepth, bool) or vdepth < 1:
            raise w.error("variant depth must be a positive integer", w.line_of("depth", line or 1))
        seeds = seed_list(v, w, w.line_of("seeds", line or 1))
        if seeds is not None and train is None:
            raise w.error("seeds on a variant without [variants.train]: only training draws from a seed",
                          w.line_of("seeds", line or 1))
        seeds = (seeds or suite_seeds) if train is not None else None
        if seeds is not None and "seed" in (train or {}):
            raise w.error("train.seed with seeds: the seeds list sets each run's seed", w.line_of("seed", line or 1))
        for combo in expand_grid(grid):
            suffix = ",".join(f"{k}={_fmt(val)}" for k, val in combo.items())
            arm = f"{v['name']}[{suffix}]" if suffix else v["name"]
            common = {"backend": v["backend"], "params": {**params, **combo}, "depth": vdepth,
                      "description": str(v.get("description", "")), "line": line,
                      "train": dict(train) if train is not None else None,
                      "evaluate_on": tuple(evaluate_on) if evaluate_on else None, "rerank": rerank,
                      "about": dict(about)}
            if seeds is None:
                out.append(Variant(name=arm, **common))
                continue
            for seed in seeds:
                named = f"{v['name']}[{suffix},seed={seed}]" if suffix else f"{v['name']}[seed={seed}]"
                out.append(Variant(name=named, arm=arm, seed=seed, **common))
    check_references(out, w)
    seen: set[str] = set()
    for var in out:
        if var.name in seen:
            raise w.error(f"variant name '{var.name}' is used twice", var.line)
        seen.add(var.name)
    check_file_names([(var.name, var.line) for var in out], w)
    return out


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the grid's value lists, in key order; [{}] for an empty grid."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


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


def _fmt(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
