"""Parts of a suite file about arms and claims: seed lists, declared contrasts and re-ranking tables.

A variant that trains becomes an arm of one variant per seed (`seeds`); a contrast states a claim, arm a
against arm b in a direction (or equivalent within a margin), that reports test; a re-ranker variant
names the variant whose run it re-orders (`[variants.rerank]`). Each parser raises a one-line error with
the suite file and line (through the `Where` of `suite.parts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rqbench.errors import did_you_mean
from rqbench.suite.parts import EvalSet, Where, canonical_measures, finite_number, reject_unknown

CONTRAST_KEYS = {"name", "a", "b", "expect", "claim", "measures", "evaluations", "margin"}
EXPECTATIONS = ("a>b", "a<b", "a=b")
DEFAULT_MARGIN = 0.01  # an equivalence claim's largest harmless |a - b|
RERANK_KEYS = {"run_of", "depth"}  # [variants.rerank]: whose run a re-ranker re-orders, how deep
FUSE_KEYS = {"runs", "depth"}  # [variants.fuse]: whose runs a fusion combines, how deep each is taken
MAX_FUSED = 8


@dataclass(frozen=True)
class Contrast:
    """A declared claim: arm `a` against arm `b` in the `expect`ed direction, tested paired by query."""

    name: str
    a: str
    b: str
    expect: str = "a>b"
    claim: str = ""
    measures: tuple[str, ...] | None = None  # None: each evaluation set's first measure
    evaluations: tuple[str, ...] | None = None  # None: every set both are evaluated on
    line: int | None = None
    margin: float | None = None  # expect "a=b": the equivalence margin on each measure's scale

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "a": self.a, "b": self.b, "expect": self.expect, "claim": self.claim,
                "measures": list(self.measures) if self.measures else None,
                "evaluations": list(self.evaluations) if self.evaluations else None,
                **({"margin": self.margin} if self.margin is not None else {})}


def seed_list(table: dict[str, Any], w: Where, line: int | None) -> list[int] | None:
    """A `seeds` list: distinct integers, at least one; None when absent."""
    if "seeds" not in table:
        return None
    seeds = table["seeds"]
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise w.error("seeds must be a non-empty list of non-negative integers", line)
    if len(set(seeds)) != len(seeds):
        raise w.error("seeds lists a seed twice", line)
    return list(seeds)


def parse_contrasts(raw: Any, arms: list[str], evaluations: list[EvalSet], w: Where) -> list[Contrast]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise w.error("contrasts must be an array of tables ([[contrasts]])", w.line_of("contrasts"))
    eval_names = [ev.name for ev in evaluations]
    measured = {m for ev in evaluations for m in ev.measures}
    out: list[Contrast] = []
    for i, table in enumerate(raw):
        line = w.nth_table("contrasts", i)
        if not isinstance(table, dict):
            raise w.error("each contrast must be a table", line)
        reject_unknown(table, CONTRAST_KEYS, w, "contrast key")
        for key in ("name", "a", "b"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise w.error(f"contrast needs a '{key}' string", line)
        for key in ("a", "b"):
            if table[key] not in arms:
                raise w.error(f"contrast '{table['name']}': {key} = '{table[key]}' is not a variant or arm"
                              + did_you_mean(table[key], arms), w.line_of(key, line or 1))
        if table["a"] == table["b"]:
            raise w.error(f"contrast '{table['name']}' compares '{table['a']}' with itself", line)
        expect = table.get("expect", "a>b")
        if expect not in EXPECTATIONS:
            raise w.error(f"contrast expect must be 'a>b', 'a<b' or 'a=b', got {expect!r}",
                          w.line_of("expect", line or 1))
        margin = table.get("margin")
        if margin is not None and (expect != "a=b" or not finite_number(margin) or margin <= 0):
            raise w.error(f"contrast margin must be a finite number > 0, and only with expect = 'a=b' (got {margin!r})",
                          w.line_of("margin", line or 1))
        if expect == "a=b" and margin is None:
            margin = DEFAULT_MARGIN
        measures = table.get("measures")
        if measures is not None:
            if not isinstance(measures, list) or not measures or not all(isinstance(m, str) for m in measures):
                raise w.error("contrast measures must be a non-empty list of strings", w.line_of("measures", line or 1))
            measures = canonical_measures(measures, w, w.line_of("measures", line or 1))
            for m in measures:
                if m not in measured:
                    raise w.error(f"contrast '{table['name']}' names {m}, which no evaluation set measures",
                                  w.line_of("measures", line or 1))
        sets = table.get("evaluations")
        if sets is not None:
            if not isinstance(sets, list) or not sets or not all(isinstance(e, str) for e in sets):
                raise w.error("contrast evaluations must be a non-empty list of evaluation set names",
                              w.line_of("evaluations", line or 1))
            for e in sets:
                if e not in eval_names:
                    raise w.error(f"contrast evaluations names unknown evaluation set '{e}'"
                                  + did_you_mean(e, eval_names), w.line_of("evaluations", line or 1))
        if any(c.name == table["name"] for c in out):
            raise w.error(f"contrast name '{table['name']}' is used twice", line)
        out.append(Contrast(table["name"], table["a"], table["b"], expect, str(table.get("claim", "")),
                            tuple(measures) if measures else None, tuple(sets) if sets else None, line,
                            float(margin) if margin is not None else None))
    return out


def rerank_table(raw: Any, w: Where, line: int | None) -> dict[str, Any] | None:
    """A variant's [variants.rerank] table: run_of (a variant or arm name) and depth (default 50)."""
    if raw is None:
        return None
    where = w.line_of("rerank", line or 1)
    if not isinstance(raw, dict):
        raise w.error("rerank must be a table ({ run_of = \"<variant>\", depth = 50 })", where)
    reject_unknown(raw, RERANK_KEYS, w, "rerank key")
    if not isinstance(raw.get("run_of"), str) or not raw["run_of"]:
        raise w.error("rerank needs run_of: the variant whose run is re-ranked", where)
    depth = raw.get("depth", 50)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise w.error(f"rerank depth must be a positive integer, got {depth!r}", where)
    return {"run_of": raw["run_of"], "depth": depth}


def fuse_table(raw: Any, w: Where, line: int | None) -> dict[str, Any] | None:
    """A variant's [variants.fuse] table: runs (1 to 8 distinct variant or arm names; 1 only for the
    calibrated method, the planner checks) and depth (default: the fusing variant's depth)."""
    if raw is None:
        return None
    where = w.line_of("fuse", line or 1)
    if not isinstance(raw, dict):
        raise w.error('fuse must be a table ({ runs = ["bm25", "dense"] })', where)
    reject_unknown(raw, FUSE_KEYS, w, "fuse key")
    runs = raw.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, str) and r for r in runs):
        raise w.error("fuse needs runs: a list of the variants whose runs are fused", where)
    if not 1 <= len(runs) <= MAX_FUSED or len(set(runs)) != len(runs):
        raise w.error(f"fuse.runs must name 1 to {MAX_FUSED} different variants, got {runs!r}", where)
    depth = raw.get("depth")
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise w.error(f"fuse depth must be a positive integer, got {depth!r}", where)
    return {"runs": tuple(runs), "depth": depth}


def references_of(var: Any) -> list[tuple[str, str, Any]]:
    """(table, key, referenced name) for every reference a variant makes: its training's (`mine_from`, ...),
    a re-ranker's `run_of` and a fusion's `runs`."""
    from rqbench.plan.steps import train_references  # the training steps' declarations

    found = [("variant", "model_from", getattr(var, "model_from", None))]
    found += [("train", key, (var.train or {}).get(key)) for key in train_references()]
    found.append(("rerank", "run_of", (var.rerank or {}).get("run_of")))
    found += [("fuse", "runs", name) for name in (getattr(var, "fuse", None) or {}).get("runs", ())]
    return [(table, key, name) for table, key, name in found if name is not None]


def check_references(variants: list[Any], w: Where) -> None:
    """Every reference (`references_of`: the train keys the training steps and the train node declare, a
    variant's `model_from`, a re-ranker's `run_of` and a fusion's `runs`) names a variant or an arm; a
    reference to an arm needs the referring variant's seed among the arm's seeds (the same seed's variant is
    meant)."""
    out = variants
    names = {var.name for var in out} | {var.arm for var in out if var.arm}
    seeds_of = {}
    for var in out:
        seeds_of.setdefault(var.arm_name, set()).add(var.seed)
    for var in out:
        for table, key, source in references_of(var):
            if source is not None and (not isinstance(source, str) or source not in names):
                raise w.error(f"{table}.{key} names unknown variant '{source}'" + did_you_mean(str(source), names),
                              w.line_of(key, var.line or 1))
            if source is not None and source in seeds_of and None not in seeds_of[source] \
                    and var.seed not in seeds_of[source]:
                raise w.error(f"{table}.{key} = '{source}': '{var.name}' needs its seed {var.seed} among "
                              f"'{source}''s seeds ({', '.join(map(str, sorted(seeds_of[source])))})",
                              w.line_of(key, var.line or 1))


SPLIT_KEYS = {"name", "from", "sample", "exclude", "seed"}


def parse_splits(raw: Any, w: Where) -> list[Any]:
    """`[[splits]]`: derived splits of the suite's dataset (`rqbench.data.derived`), in order."""
    from rqbench.data.derived import SplitSpec

    if raw is None:
        return []
    if not isinstance(raw, list):
        raise w.error("splits must be an array of tables ([[splits]])", w.line_of("splits"))
    out: list[SplitSpec] = []
    for i, table in enumerate(raw):
        line = w.nth_table("splits", i)
        if not isinstance(table, dict):
            raise w.error("each split must be a table", line)
        reject_unknown(table, SPLIT_KEYS, w, "split key")
        for key in ("name", "from"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise w.error(f"a derived split needs a '{key}' string", line)
        sample, exclude, seed = table.get("sample"), table.get("exclude", []), table.get("seed", 0)
        if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
            raise w.error(f"split sample must be a positive number of queries, got {sample!r}", line)
        if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
            raise w.error("split exclude must be a list of split names", line)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise w.error(f"split seed must be an integer, got {seed!r}", line)
        if sample is None and not exclude:
            raise w.error(f"split '{table['name']}' needs sample (queries held apart) or exclude (splits taken out)",
                          line)
        if any(s.name == table["name"] for s in out):
            raise w.error(f"split name '{table['name']}' is used twice", line)
        out.append(SplitSpec(table["name"], table["from"], sample, tuple(exclude), seed, line))
    return out
