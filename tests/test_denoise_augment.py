"""RocketQA's denoised hard negatives and pseudo-label augmentation on real SciFact queries and passages,
with cross-encoder probabilities chosen by hand so that every kept, dropped, filled and labelled passage
can be checked."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rqbench.data import load_dataset
from rqbench.training.augment import augment_groups, labels_tsv
from rqbench.training.denoise import denoise_groups, probability
from rqbench.types import ScoredDoc


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@pytest.fixture(scope="module")
def scifact(data_root: Path):  # type: ignore[no-untyped-def]
    return load_dataset("scifact", data_root)


def one_query(scifact) -> tuple[str, str, list[str]]:  # type: ignore[no-untyped-def]
    """A training query with exactly one judged positive, and 40 other real passages."""
    qrels = scifact.split_qrels("train")
    qid = next(q for q in sorted(qrels) if sum(r > 0 for r in qrels[q].values()) == 1)
    positive = next(d for d, r in qrels[qid].items() if r > 0)
    others = [d for d in sorted(scifact.corpus) if d not in qrels[qid]][:40]
    return qid, positive, others


def run_of(qid: str, ranking: list[str]) -> dict[str, list[ScoredDoc]]:
    return {qid: [ScoredDoc(d, 100.0 - i) for i, d in enumerate(ranking)]}


def only(groups, qid):  # type: ignore[no-untyped-def]
    return next(g for g in groups if g.query_id == qid)


def test_probability_is_a_stable_sigmoid() -> None:
    assert probability(0.0) == 0.5
    assert probability(logit(0.1)) == pytest.approx(0.1)
    assert probability(-1000.0) == 0.0 and probability(1000.0) == 1.0


def test_denoising_drops_exactly_the_candidates_at_or_above_the_threshold(scifact) -> None:  # type: ignore[no-untyped-def]
    qid, positive, n = one_query(scifact)
    ranking = [n[0], positive, n[1], n[2], n[3], n[4], n[5], n[6]]
    probs = {n[0]: 0.5, positive: 0.97, n[1]: 0.05, n[2]: 0.1, n[3]: 0.01, n[4]: 0.09, n[5]: 0.02, n[6]: 0.03}
    logits = {qid: {d: logit(p) for d, p in probs.items()}}
    groups, audit = denoise_groups(run_of(qid, ranking), logits, scifact, "train", scan_depth=8, threshold=0.1,
                                   per_positive=4, fill_depth=8, seed=1)
    group = only(groups, qid)
    # n0 (0.5) and n2 (exactly 0.1) are dropped; the positive is skipped; the first four below 0.1 are kept
    assert [p.id for p in group.negatives] == [n[1], n[3], n[4], n[5]]
    assert [p.id for p in group.positives] == [positive]
    assert audit.per_query[qid] == {"kept": 4, "dropped": 2, "filled": 0}
    assert (audit.positives_in_scan, audit.positives_flagged) == (1, 1)
    assert sum(audit.histogram) == 8  # every scanned candidate, the positive too
    assert {r["doc_id"] for r in audit.sample if r["query_id"] == qid} == {n[0], n[2]}
    # every query's negatives exclude its judged positives
    qrels = scifact.split_qrels("train")
    assert all(not any(qrels[g.query_id].get(p.id, 0) > 0 for p in g.negatives) for g in groups)


def test_a_shortfall_is_filled_from_deeper_ranks_and_the_undenoised_arm_scans_the_same_ranks(scifact) -> None:  # type: ignore[no-untyped-def]
    qid, positive, n = one_query(scifact)
    ranking = [n[0], n[1], positive, n[2], *n[3:30]]
    logits = {qid: {n[0]: logit(0.9), n[1]: logit(0.02), positive: logit(0.8), n[2]: logit(0.5)}}
    kwargs = {"scan_depth": 4, "threshold": 0.1, "per_positive": 4, "fill_depth": 20}
    groups, audit = denoise_groups(run_of(qid, ranking), logits, scifact, "train", seed=3, **kwargs)
    negatives = [p.id for p in only(groups, qid).negatives]
    assert negatives[0] == n[1] and len(negatives) == 4
    deeper = set(ranking[4:20])
    assert set(negatives[1:]) <= deeper and len(set(negatives)) == 4
    assert audit.per_query[qid] == {"kept": 1, "dropped": 2, "filled": 3}
    again, _ = denoise_groups(run_of(qid, ranking), logits, scifact, "train", seed=3, **kwargs)
    assert [p.id for p in only(again, qid).negatives] == negatives  # seeded
    plain, plain_audit = denoise_groups(run_of(qid, ranking), logits, scifact, "train", seed=3, denoise=False,
                                        **kwargs)
    assert [p.id for p in only(plain, qid).negatives][:3] == [n[0], n[1], n[2]]  # the same scan, no filter
    assert plain_audit.per_query[qid]["dropped"] == 0


def test_augmentation_labels_and_its_audit_on_a_hand_checkable_case(scifact) -> None:  # type: ignore[no-untyped-def]
    queries = sorted(q.id for q in scifact.split_queries("unlabeled"))[:3]
    docs = sorted(scifact.corpus)[:12]
    run = {queries[0]: [ScoredDoc(d, 10.0 - i) for i, d in enumerate(docs[:6])],
           queries[1]: [ScoredDoc(d, 10.0 - i) for i, d in enumerate(docs[6:10])],
           queries[2]: []}
    p0 = {docs[0]: 0.05, docs[1]: 0.95, docs[2]: 0.5, docs[3]: 0.01, docs[4]: 0.02, docs[5]: 0.03}
    p1 = {docs[6]: 0.8, docs[7]: 0.01, docs[8]: 0.01, docs[9]: 0.01}  # best only 0.8: the query is dropped
    logits = {queries[0]: {d: logit(p) for d, p in p0.items()}, queries[1]: {d: logit(p) for d, p in p1.items()}}
    groups, labels, audit = augment_groups(run, logits, scifact, "unlabeled", depth=50, positive_threshold=0.9,
                                           negative_threshold=0.1, negatives=2)
    assert [g.query_id for g in groups] == [queries[0]]
    assert [p.id for p in groups[0].positives] == [docs[1]]
    assert [p.id for p in groups[0].negatives] == [docs[0], docs[3]]  # the first two below 0.1, in rank order
    assert [(x.doc_id, x.label) for x in labels] == [(docs[1], "positive"), (docs[0], "negative"),
                                                     (docs[3], "negative")]
    n_queries = len(scifact.split_queries("unlabeled"))
    summary = audit.to_json()
    assert (summary["queries"], summary["labelled"], summary["dropped"]) == (n_queries, 1, n_queries - 1)
    assert summary["negatives_per_query"] == {"2": 1} and "labels" not in summary
    assert labels_tsv(labels).splitlines()[1] == f"{queries[0]}\t{docs[1]}\t0.950000\tpositive"


def test_the_labeller_is_measured_against_withheld_labels(scifact) -> None:  # type: ignore[no-untyped-def]
    """On a labelled split (labels withheld from training) the audit gives precision and coverage."""
    qrels = scifact.split_qrels("train")
    qids = sorted(qrels)[:2]
    right = next(d for d, r in qrels[qids[0]].items() if r > 0)
    wrong = next(d for d in sorted(scifact.corpus) if d not in qrels[qids[1]])
    run = {qids[0]: [ScoredDoc(right, 1.0)], qids[1]: [ScoredDoc(wrong, 1.0)]}
    logits = {qids[0]: {right: logit(0.99)}, qids[1]: {wrong: logit(0.95)}}
    _, _, audit = augment_groups(run, logits, scifact, "train", negatives=4)
    labels = audit.to_json()["labels"]
    assert (labels["true_positives"], labels["precision"]) == (1, 0.5)
    assert audit.to_json()["coverage"] == pytest.approx(2 / len(scifact.split_queries("train")))


def test_the_labeller_is_compared_with_the_retrievers_own_top1(scifact) -> None:  # type: ignore[no-untyped-def]
    """The audit counts, on the same labelled queries, how often the retriever's own first passage is judged
    relevant: a labeller that only agrees with the retriever teaches it nothing."""
    qrels = scifact.split_qrels("train")
    q0, q1, q2 = sorted(qrels)[:3]
    right = {q: next(d for d, r in qrels[q].items() if r > 0) for q in (q0, q1, q2)}
    wrong = {q: next(d for d in sorted(scifact.corpus) if d not in qrels[q]) for q in (q0, q1, q2)}
    run = {q0: [ScoredDoc(wrong[q0], 2.0), ScoredDoc(right[q0], 1.0)],  # the labeller fixes the retriever
           q1: [ScoredDoc(right[q1], 2.0), ScoredDoc(wrong[q1], 1.0)],  # the labeller spoils it
           q2: [ScoredDoc(right[q2], 2.0), ScoredDoc(wrong[q2], 1.0)]}  # unlabelled: P never above 0.9
    logits = {q0: {wrong[q0]: logit(0.05), right[q0]: logit(0.99)},
              q1: {right[q1]: logit(0.05), wrong[q1]: logit(0.95)},
              q2: {right[q2]: logit(0.6), wrong[q2]: logit(0.05)}}
    _, _, audit = augment_groups(run, logits, scifact, "train", negatives=4)
    labels = audit.to_json()["labels"]
    assert (labels["true_positives"], labels["retriever_top1_relevant"]) == (1, 1)
    assert labels["retriever_top1_precision"] == labels["precision"] == 0.5
