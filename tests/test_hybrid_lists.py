"""RocketQAv2's hybrid lists: undenoised negatives drawn from a retriever's pool mixed with denoised ones,
per query, in the declared proportions; every list distinct, without positives, seeded; one source fills the
other's gap; the audit counts it all; the planner wires mine + denoise -> hybrid -> train and checks the
list length against what the trainer draws."""

from __future__ import annotations

from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.suite import load_suite
from rqbench.training.groups import Passage, TrainingGroup
from rqbench.training.hybrid import hybrid_lists


def group(qid: str, negatives: list[str], positives: tuple[str, ...] = ("pos",)) -> TrainingGroup:
    return TrainingGroup(qid, f"query {qid}", tuple(Passage(p, p) for p in positives),
                         tuple(Passage(n, n) for n in negatives))


POOL = [group("q1", [f"r{i}" for i in range(20)]), group("q2", ["r0", "r1", "pos"])]
CLEAN = [group("q1", ["c0", "c1", "c2", "c3"]), group("q2", ["c0", "r1"])]


def test_each_list_mixes_the_declared_numbers_of_distinct_negatives() -> None:
    lists, audit = hybrid_lists(POOL, CLEAN[:1], undenoised_per_list=4, denoised_per_list=3, seed=1)
    (only,) = lists
    ids = [p.id for p in only.negatives]
    assert ids[:3] == ["c0", "c1", "c2"]  # the denoised negatives in their (rank) order
    assert len(ids) == len(set(ids)) == 7 and all(i.startswith("r") for i in ids[3:])
    assert (audit.lists, audit.from_denoised, audit.from_undenoised, audit.short) == (1, 3, 4, 0)
    again, _ = hybrid_lists(POOL, CLEAN[:1], undenoised_per_list=4, denoised_per_list=3, seed=1)
    other, _ = hybrid_lists(POOL, CLEAN[:1], undenoised_per_list=4, denoised_per_list=3, seed=2)
    assert again == lists and other != lists  # seeded, per query


def test_a_short_source_is_filled_from_the_other_and_positives_never_enter() -> None:
    lists, audit = hybrid_lists(POOL, CLEAN, undenoised_per_list=2, denoised_per_list=3, seed=0)
    q2 = [p.id for p in lists[1].negatives]
    # q2: 2 denoised (c0, r1), the third denoised slot and the 2 undenoised come from r0 (r1 is taken, pos is a
    # positive): only 3 distinct negatives exist, so the list is short
    assert sorted(q2) == ["c0", "r0", "r1"] and "pos" not in q2
    assert audit.short == 1 and audit.in_both_pools == 1  # r1, offered by both pools for q2
    data = audit.to_json()
    assert data["negatives_per_list"] == 5 and data["lists"] == 2
    assert data["from_denoised"] + data["from_undenoised"] == 5 + 3


def test_only_the_negatives_the_teacher_passed_count_as_denoised() -> None:
    """A denoise group ends with unfiltered fills from deeper ranks; with the audit's kept counts they are left
    out of the denoised source, and the undenoised pool fills the slots."""
    lists, audit = hybrid_lists(POOL, CLEAN[:1], undenoised_per_list=2, denoised_per_list=3, seed=0, kept={"q1": 1})
    ids = [p.id for p in lists[0].negatives]
    assert ids[0] == "c0" and not {"c1", "c2", "c3"} & set(ids) and len(ids) == 5
    assert (audit.from_denoised, audit.from_undenoised, audit.filled_from_undenoised) == (1, 4, 2)


def test_a_list_needs_a_negative() -> None:
    with pytest.raises(RqbenchError, match="at least one negative"):
        hybrid_lists(POOL, CLEAN, undenoised_per_list=0, denoised_per_list=0)


SUITE = """
[suite]
name = "hybrid-plan"
dataset = "scifact"
measures = ["RR@10"]

[[variants]]
name = "md0"
backend = "dense"
params = { max_query_length = 16, max_passage_length = 32 }
train = { batch_size = 8, max_steps = 1 }

[[variants]]
name = "mc"
backend = "cross-encoder"
params = { max_length = 64 }
train = { mine_from = "md0", mine_depth = 50, hard_negatives = 4, batch_size = 4, max_steps = 1 }
rerank = { run_of = "md0", depth = 20 }

[[variants]]
name = "v2"
backend = "dense"
params = { max_query_length = 16, max_passage_length = 32 }
[variants.train]
task = "joint"
reranker_from = "mc"
mine_from = "md0"
mine_depth = 100
scan_depth = 20
negatives_per_positive = 4
denoise_with = "mc"
hybrid_undenoised = 4
hybrid_denoised = 3
hybrid_depth = 50
hard_negatives = 7
batch_size = 4
max_steps = 1
"""


def plan(tmp_path: Path, data_root: Path, text: str = SUITE):  # type: ignore[no-untyped-def]
    path = tmp_path / "h.toml"
    path.write_text(text)
    return plan_suite(load_suite(path), data_root)


def test_the_planner_mixes_md0s_pool_with_the_denoised_groups(tmp_path: Path, data_root: Path) -> None:
    steps = {p.variant.name: dict(p.steps) for p in plan(tmp_path, data_root).evaluations}
    v2 = steps["v2"]
    hybrid = v2["hybrid"]
    assert v2["train"].inputs["groups"].node is hybrid
    assert hybrid.inputs["denoised"].node is v2["denoise"]
    pool = hybrid.inputs["undenoised"].node
    assert pool.kind.name == "mine" and pool.params.depth == 50
    scanned = v2["denoise"].inputs["run"].node
    assert (pool.inputs["run"].node.params.depth, scanned.params.depth) == (50, 100)  # hybrid_depth, mine_depth
    assert pool.inputs["run"].node.inputs["index"].node is scanned.inputs["index"].node  # both md0's run
    assert (hybrid.params.undenoised, hybrid.params.denoised) == (4, 3)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("hard_negatives = 7", "hard_negatives = 6", r"must be hybrid_undenoised \+ hybrid_denoised \(7\)"),
    ('denoise_with = "mc"\nhybrid', "hybrid", "set train.denoise_with"),
    ("hybrid_denoised = 3", "hybrid_denoised = 5", r"exceeds train.negatives_per_positive \(4\)"),
    ("hybrid_depth = 50\n", "", "train.hybrid_depth: how deep"),
    ('scan_depth = 20\nnegatives_per_positive = 4\ndenoise_with = "mc"\n', "", "set train.denoise_with"),
])
def test_bad_hybrid_settings_are_one_line_errors(tmp_path: Path, data_root: Path, old: str, new: str,
                                                 message: str) -> None:
    assert old in SUITE
    with pytest.raises(RqbenchError, match=message):
        plan(tmp_path, data_root, SUITE.replace(old, new, 1))


def test_the_report_shows_the_hybrid_audit(tmp_path: Path) -> None:
    from rqbench.report.audit_text import audit_tables
    from rqbench.report.model import build_report

    _, audit = hybrid_lists(POOL, CLEAN, undenoised_per_list=2, denoised_per_list=3, seed=0)
    base = {"schema": 1, "suite": "s", "backend": "dense", "evaluation": {"name": "e", "dataset": "d", "split": "t"},
            "config": {"baseline": "b", "measures": ["RR@10"], "split": "t"}, "measures": {},
            "metrics": {"RR@10": 0.5}, "n_queries": 1, "per_query": {"RR@10": {"q1": 0.5}}}
    recs = [{**base, "record_id": "b", "variant": "b", "created": "2026-01-01T00:00:00+00:00"},
            {**base, "record_id": "v", "variant": "v2", "created": "2026-01-01T00:00:01+00:00",
             "audits": {"hybrid": audit.to_json()}}]
    (table,) = audit_tables(build_report(recs, n_resamples=10))
    assert table.title == "Hybrid lists"
    assert table.rows == [["v2", "—", "2", "2 + 3", "3", "5", "0 / 0", "1", "1"]]
