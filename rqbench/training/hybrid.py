"""Hybrid lists (RocketQAv2's hybrid data augmentation, arXiv 2110.07367 section 4.3) and their audit.

A list is a query, its positive(s) and K - 1 negatives mixed from two sources: `undenoised` negatives drawn
(seeded, per query) from a retriever's mined pool, which may hold false negatives ("rand" in the official
data's names), and `denoised` ones that a teacher scored below its threshold. Every query of the denoised
groups gets a list; its negatives are distinct, never one of its positives, and when one source has too few
the other fills the gap, so each list keeps its length while the sources allow (a shortfall is counted; a
list is never padded with repeats). Pseudo-labelled groups of unlabeled queries (`augment`) are appended
after this step, as for RocketQA's MD2.

The audit counts what each source gave, the fills, the short lists and how often both pools held the same
passage (then it counts once, for the source that drew it first: denoised).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.training.groups import Passage, TrainingGroup


@dataclass
class HybridAudit:
    undenoised_per_list: int
    denoised_per_list: int
    lists: int = 0
    from_undenoised: int = 0
    from_denoised: int = 0
    filled_from_undenoised: int = 0  # denoised pool too small: its share taken from the undenoised pool
    filled_from_denoised: int = 0
    short: int = 0  # lists with fewer negatives than asked even after filling
    in_both_pools: int = 0  # candidates both pools offered (drawn at most once)
    missing_undenoised: int = 0  # queries the undenoised pool lacks (their lists take denoised negatives only)

    def to_json(self) -> dict[str, Any]:
        asked = self.undenoised_per_list + self.denoised_per_list
        total = self.from_undenoised + self.from_denoised
        return {**self.__dict__, "negatives_per_list": asked,
                "undenoised_share": self.from_undenoised / total if total else None}


def hybrid_lists(undenoised: list[TrainingGroup], denoised: list[TrainingGroup], *, undenoised_per_list: int,
                 denoised_per_list: int, seed: int = 0,
                 kept: dict[str, int] | None = None) -> tuple[list[TrainingGroup], HybridAudit]:
    """One list per denoised group, in its order: its positives and `denoised_per_list` of its negatives plus
    `undenoised_per_list` drawn from the same query's undenoised pool (seeded per query), filled from the
    other source where one is short. `kept` (the denoise audit's per-query count of negatives the teacher
    passed) limits the denoised source to those: a denoise group ends with unfiltered fills from deeper ranks,
    which are no denoised instances."""
    if undenoised_per_list < 0 or denoised_per_list < 0 or undenoised_per_list + denoised_per_list < 1:
        raise RqbenchError("a hybrid list needs at least one negative: set the undenoised and denoised counts "
                           f"(got {undenoised_per_list} and {denoised_per_list})")
    pools = {g.query_id: g.negatives for g in undenoised}
    audit = HybridAudit(undenoised_per_list, denoised_per_list)
    out = []
    for group in denoised:
        rng = random.Random(f"{seed}:hybrid:{group.query_id}")
        positives = {p.id for p in group.positives}
        if group.query_id not in pools:
            audit.missing_undenoised += 1
        rand_pool = [p for p in pools.get(group.query_id, ()) if p.id not in positives]
        passed = group.negatives if kept is None else group.negatives[:kept.get(group.query_id, 0)]
        clean = [p for p in passed if p.id not in positives]
        audit.in_both_pools += len({p.id for p in clean} & {p.id for p in rand_pool})
        chosen: dict[str, Passage] = {}
        take_clean = _take(clean, denoised_per_list, chosen, rng=None)
        take_rand = _take(rand_pool, undenoised_per_list, chosen, rng=rng)
        audit.from_denoised += take_clean
        audit.from_undenoised += take_rand
        if take_clean < denoised_per_list:  # fill the denoised share from the undenoised pool
            extra = _take(rand_pool, denoised_per_list - take_clean, chosen, rng=rng)
            audit.filled_from_undenoised += extra
            audit.from_undenoised += extra
        if take_rand < undenoised_per_list:  # and the undenoised share from the denoised negatives left
            extra = _take(clean, undenoised_per_list - take_rand, chosen, rng=None)
            audit.filled_from_denoised += extra
            audit.from_denoised += extra
        audit.short += len(chosen) < undenoised_per_list + denoised_per_list
        audit.lists += 1
        out.append(TrainingGroup(group.query_id, group.query, group.positives, tuple(chosen.values())))
    return out, audit


def _take(pool: list[Passage], n: int, chosen: dict[str, Passage], rng: random.Random | None) -> int:
    """Add up to `n` passages of `pool` not yet chosen: in pool order, or drawn at random with `rng`."""
    left = [p for p in pool if p.id not in chosen]
    picked = left[:n] if rng is None else rng.sample(left, min(n, len(left)))
    for p in picked:
        chosen[p.id] = p
    return len(picked)
