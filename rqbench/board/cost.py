"""The cost fields a leaderboard can show beside quality, and how a record's stages give them."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rqbench.board.model import Leaderboard

# name -> (label, unit, higher is better)
COST_FIELDS: dict[str, tuple[str, str, bool]] = {
    "train_s": ("training", "s", False),
    "index_s": ("indexing", "s", False),
    "index_mb": ("index size", "MB", False),
    "search_qps": ("search", "queries/s", True),
}

COST_NOTE = ("Cost: wall time as first built (indexing and search on the system's first evaluation set), on the "
             "hardware shown. Queries/s: all the set's queries over the search time, leaving out the first search "
             "(which loads the model or starts the JVM) where the record timed it apart; a re-ranker's adds its "
             "first stage's search and its scoring.")
# set (1.0) in a system's cost where its queries/s includes the first search: a record built before retrieve timed
# it apart; the renderers mark the value with LOAD_MARK
LOAD_IN_SEARCH = "search_includes_load"
LOAD_MARK = "‡"
LOAD_TITLE = ("this queries/s includes the first search (loading the model or starting the JVM): its record was "
              "built before the search was timed apart.")
LOAD_NOTE = f"{LOAD_MARK} : {LOAD_TITLE}"

_SEARCH_KINDS = ("retrieve", "score", "rerank")  # the stages a query goes through at search time


def record_cost(record: dict[str, Any]) -> dict[str, float]:
    """Training and indexing seconds and search speed from the record's own stages, as first built (an
    arm: the mean over its seeds); nothing for a run file. Search time leaves out the first search where the
    stage timed it apart; a re-ranker's adds its source's search and its scoring."""
    per_seed: dict[Any, dict[str, float]] = {}
    for st in record.get("stages") or []:
        role = str(st.get("role", ""))
        # a stage of another variant this one builds on; but a re-ranker's queries go through its source's
        # search (and a cascade's through every re-ranker before it)
        prefixes = role.split(":")[:-1]
        if prefixes and (any(p_ != "rerank_of" for p_ in prefixes) or st.get("kind") not in _SEARCH_KINDS):
            continue
        timed = st.get("search_seconds")
        seconds = float(timed if timed is not None else st.get("built_seconds") or 0.0)
        slot = per_seed.setdefault(st.get("seed"), {})
        kind = st.get("kind")
        if kind == "retrieve" and timed is None:
            slot["load_in_search"] = 1.0  # built before retrieve timed its first search apart
        if kind == "train":
            slot["train_s"] = slot.get("train_s", 0.0) + seconds
        elif kind == "index":
            slot["index_s"] = slot.get("index_s", 0.0) + seconds
            if st.get("bytes") is not None:
                slot["index_mb"] = slot.get("index_mb", 0.0) + float(st["bytes"]) / 1e6
        elif kind in _SEARCH_KINDS and seconds > 0:  # a re-ranker: search, score, reorder
            slot["search_s"] = slot.get("search_s", 0.0) + seconds
    out: dict[str, float] = {}
    for key in ("train_s", "index_s", "index_mb"):
        values = [s[key] for s in per_seed.values() if key in s]
        if values:
            out[key] = statistics.fmean(values)
    searches = [s["search_s"] for s in per_seed.values() if "search_s" in s]
    # every query of the split is searched, judged or not (measures skip the unjudged ones)
    n = (record.get("dataset") or {}).get("n_queries") or record.get("n_queries")
    if searches and n:
        out["search_qps"] = float(n) / statistics.fmean(searches)
        if any("load_in_search" in s for s in per_seed.values()):
            out[LOAD_IN_SEARCH] = 1.0
    return out


def record_hardware(record: dict[str, Any]) -> str:
    env = record.get("env") or {}
    if not env.get("cpu"):
        return ""
    cpu = f"{env['cpu']} ×{env['cpu_count']}" if env.get("cpu_count") else str(env["cpu"])
    gpu = env.get("gpu")
    return f"{cpu} + {gpu}" if gpu else cpu


def load_marked(cost: dict[str, float], field: str) -> bool:
    """Whether this cost value is a queries/s that includes the first search (shown with LOAD_MARK)."""
    return field == "search_qps" and LOAD_IN_SEARCH in cost


def has_load_marks(board: Leaderboard) -> bool:
    """Whether the board shows any LOAD_MARK (so its legend needs LOAD_NOTE)."""
    return "search_qps" in board.cost_fields() and any(load_marked(s.cost, "search_qps") for s in board.systems)
