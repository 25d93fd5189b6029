"""A suite's `[[variants]]`: each table validated (one-line errors naming the suite file and line) and
expanded into variants: one per point of its `grid`, and, for a variant that trains (or fuses seeded
arms), one per seed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from rqbench.errors import did_you_mean
from rqbench.suite.claims import check_references, fuse_table, rerank_table, seed_list
from rqbench.suite.parts import TextWhere as _Where
from rqbench.suite.parts import check_file_names

VARIANT_KEYS = {"name", "backend", "params", "grid", "description", "about", "depth", "train", "evaluate_on", "seeds",
                "rerank", "fuse", "model_from"}


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
    fuse: dict[str, Any] | None = None  # a fusion's {runs: (variant, ...), depth: k or None}
    model_from: str | None = None  # the variant whose trained checkpoint is this one's model (no training of its own)
    about: dict[str, Any] = field(default_factory=dict)  # provenance shown in leaderboards (paper, model_size, notes)

    @property
    def arm_name(self) -> str:
        """The arm this variant belongs to (its own name when it is not one seed of an arm)."""
        return self.arm or self.name


def parse_variants(raw: Any, depth: int, suite_seeds: list[int] | None, w: _Where) -> list[Variant]:
    if not raw:
        raise w.error("suite has no [[variants]]")
    if not isinstance(raw, list):
        raise w.error("variants must be an array of tables ([[variants]])", w.line_of("variants"))
    from rqbench.backend import registry

    known_backends = registry()
    seeded = _seeded_arms(raw, suite_seeds)
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
        fuse = fuse_table(v.get("fuse"), w, line)
        if fuse is not None and (train is not None or rerank is not None):
            raise w.error("a fusion variant ([variants.fuse]) neither trains nor re-ranks: fuse their variants' runs "
                          "instead", w.line_of("fuse", line or 1))
        model_from = v.get("model_from")
        if model_from is not None and (not isinstance(model_from, str) or not model_from):
            raise w.error("model_from must name the variant whose trained model this one uses",
                          w.line_of("model_from", line or 1))
        if model_from is not None and (train is not None or fuse is not None):
            raise w.error("model_from with [variants.train] or [variants.fuse]: a variant either trains its model, "
                          "takes another variant's (model_from), or fuses runs", w.line_of("model_from", line or 1))
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
        if seeds is not None and train is None and fuse is None and model_from is None:
            raise w.error("seeds on a variant without [variants.train]: only training draws from a seed",
                          w.line_of("seeds", line or 1))
        if fuse is not None:  # one fused run per seed of the seeded arms it fuses (the same seed's members)
            seeds = seeds or next((seeded[name] for name in fuse["runs"] if name in seeded), None)
        elif model_from is not None:  # one variant per seed of a seeded arm's models
            seeds = seeds or seeded.get(model_from)
        else:
            seeds = (seeds or suite_seeds) if train is not None else None
        if seeds is not None and "seed" in (train or {}):
            raise w.error("train.seed with seeds: the seeds list sets each run's seed", w.line_of("seed", line or 1))
        for combo in expand_grid(grid):
            suffix = ",".join(f"{k}={_fmt(val)}" for k, val in combo.items())
            arm = f"{v['name']}[{suffix}]" if suffix else v["name"]
            common = {"backend": v["backend"], "params": {**params, **combo}, "depth": vdepth,
                      "description": str(v.get("description", "")), "line": line,
                      "train": dict(train) if train is not None else None,
                      "evaluate_on": tuple(evaluate_on) if evaluate_on else None, "rerank": rerank, "fuse": fuse,
                      "model_from": model_from, "about": dict(about)}
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


def _seeded_arms(raw: list[Any], suite_seeds: list[int] | None) -> dict[str, list[int]]:
    """Name -> seeds of each variant table that becomes seeded arms (it trains, with its own or the suite's
    seeds, or takes such an arm's model): a fusion of such an arm is one fused run per seed."""
    out = {}
    tables = [v for v in raw if isinstance(v, dict) and isinstance(v.get("name"), str)]
    for v in tables:
        if v.get("train") is not None:
            seeds = v.get("seeds") if isinstance(v.get("seeds"), list) else suite_seeds
            if seeds:
                out[v["name"]] = list(seeds)
    taking = [v for v in tables if v.get("train") is None and isinstance(v.get("model_from"), str)]
    while True:  # a model taken from a variant that takes it, to any depth
        found = [v for v in taking if v["name"] not in out and v["model_from"] in out]
        if not found:
            return out
        for v in found:
            out[v["name"]] = list(v["seeds"]) if isinstance(v.get("seeds"), list) else out[v["model_from"]]


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the grid's value lists, in key order; [{}] for an empty grid."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def _fmt(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
