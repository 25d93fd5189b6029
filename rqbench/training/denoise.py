"""Denoised hard negatives (RocketQA step 3, arXiv 2010.08191 section 4.2) and their audit.

Per judged query: scan the retriever's top-`scan_depth` in rank order, skip judged positives, and keep a
candidate as a negative only if the cross-encoder's P(relevant) = sigmoid(logit) is below `threshold`,
until `per_positive` x (number of positives) negatives are kept; a shortfall is filled at random (seeded
per query) from ranks `scan_depth + 1` .. `fill_depth`, without the filter (the cross-encoder did not
score them). With `denoise=False` (the undenoised arm) the same scan keeps every non-positive candidate,
so the two arms get the same number of negatives from the same ranks and differ only in the filter.

The audit says what the filter did, per query and in total: kept, dropped and filled counts; the
distribution of the scanned candidates' probabilities; how often the cross-encoder flagged a *judged*
positive among the candidates as relevant (its agreement with the labels, the only check of the filter
the labels allow); where qrels judge documents non-relevant (graded qrels), how many dropped candidates
were judged non-relevant; and a seeded sample of dropped pairs with their texts for a person to read.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rqbench.training.groups import Passage, TrainingGroup, positives_of
from rqbench.types import Run, sort_ranking

if TYPE_CHECKING:
    from rqbench.data import Dataset

SAMPLE_SIZE = 50  # dropped pairs shown in the audit
TEXT_CHARS = 400  # of each passage in the sample


def probability(logit: float) -> float:
    """sigmoid(logit), the cross-encoder's P(relevant), without overflow."""
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    e = math.exp(logit)
    return e / (1.0 + e)


@dataclass
class DenoiseAudit:
    """Counts and samples of one denoising pass (JSON-ready through `to_json`)."""

    threshold: float
    denoise: bool
    queries: int = 0
    kept: int = 0
    dropped: int = 0
    filled: int = 0
    short: int = 0  # queries that still have fewer negatives than asked after filling
    positives_in_scan: int = 0  # judged positives met while scanning (skipped)
    positives_flagged: int = 0  # ... of them the cross-encoder scored >= threshold (agreement with labels)
    dropped_judged_nonrelevant: int = 0  # dropped candidates the qrels judge 0 (graded qrels only)
    histogram: list[int] = field(default_factory=lambda: [0] * 10)  # P(relevant) of scanned candidates, 10 bins
    per_query: dict[str, dict[str, int]] = field(default_factory=dict)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "denoise": self.denoise, "queries": self.queries, "kept": self.kept,
                "dropped": self.dropped, "filled": self.filled, "short": self.short,
                "positives_in_scan": self.positives_in_scan, "positives_flagged": self.positives_flagged,
                "dropped_judged_nonrelevant": self.dropped_judged_nonrelevant,
                "probability_histogram": {"bins": [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10)],
                                          "counts": self.histogram},
                "per_query": self.per_query, "dropped_sample": self.sample}


def denoise_groups(run: Run, logits: dict[str, dict[str, float]], dataset: Dataset, split: str, *,
                   scan_depth: int = 50, threshold: float = 0.1, per_positive: int = 4, fill_depth: int = 1000,
                   denoise: bool = True, seed: int = 0) -> tuple[list[TrainingGroup], DenoiseAudit]:
    """Training groups of `split` with denoised (or, `denoise=False`, merely scanned) hard negatives in rank
    order, fill last; and the audit. `logits` are the cross-encoder's, per query and document."""
    qrels = dataset.split_qrels(split)
    queries = {q.id: q for q in dataset.split_queries(split)}
    corpus = dataset.corpus
    audit = DenoiseAudit(threshold=threshold, denoise=denoise)
    dropped_pairs: list[dict[str, Any]] = []
    groups: list[TrainingGroup] = []
    for qid in sorted(qrels):
        query = queries.get(qid)
        positives = [d for d in positives_of(qrels[qid]) if d in corpus]
        if query is None or not query.text.strip() or not positives:
            continue
        judged = qrels[qid]
        wanted = per_positive * len(positives)
        ranking = [sd.docid for sd in sort_ranking(run.get(qid, []), fill_depth) if sd.docid in corpus]
        scores = logits.get(qid, {})
        kept: list[str] = []
        counts = {"kept": 0, "dropped": 0, "filled": 0}
        for rank, docid in enumerate(ranking[:scan_depth], start=1):
            p = probability(scores[docid]) if docid in scores else None
            if p is not None:
                audit.histogram[min(int(p * 10), 9)] += 1
            if judged.get(docid, 0) > 0:
                audit.positives_in_scan += 1
                audit.positives_flagged += int(p is not None and p >= threshold)
                continue
            if len(kept) >= wanted:
                continue  # keep scanning: the histogram and agreement cover the whole scan
            if denoise and (p is None or p >= threshold):
                counts["dropped"] += 1
                audit.dropped_judged_nonrelevant += int(docid in judged)
                dropped_pairs.append({"query_id": qid, "query": query.text, "doc_id": docid, "rank": rank,
                                      "probability": p, "passage": corpus[docid].contents()[:TEXT_CHARS]})
                continue
            kept.append(docid)
        counts["kept"] = len(kept)
        if len(kept) < wanted:
            pool = [d for d in ranking[scan_depth:] if judged.get(d, 0) <= 0 and d not in kept]
            fill = random.Random(f"{seed}:denoise-fill:{qid}").sample(pool, min(wanted - len(kept), len(pool)))
            counts["filled"] = len(fill)
            kept += fill
        audit.short += int(len(kept) < wanted)
        audit.queries += 1
        for key in ("kept", "dropped", "filled"):
            setattr(audit, key, getattr(audit, key) + counts[key])
        audit.per_query[qid] = counts
        groups.append(TrainingGroup(qid, query.text,
                                    tuple(Passage(d, corpus[d].contents(), corpus[d].title) for d in positives),
                                    tuple(Passage(d, corpus[d].contents(), corpus[d].title) for d in kept)))
    rng = random.Random(f"{seed}:denoise-sample")
    audit.sample = sorted(rng.sample(dropped_pairs, min(SAMPLE_SIZE, len(dropped_pairs))),
                          key=lambda r: (r["query_id"], r["rank"]))
    return groups, audit
