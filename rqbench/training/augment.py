"""Data augmentation with pseudo-labels (RocketQA step 4, arXiv 2010.08191 section 4.3) and its audit.

Per query of an (unlabeled) split: among the retriever's top-`depth`, the passage the cross-encoder scores
highest becomes the positive only if its P(relevant) = sigmoid(logit) is above `positive_threshold`
(otherwise the query is dropped); its negatives are the first `negatives` candidates in rank order whose
P(relevant) is below `negative_threshold` (no fill: fewer when there are fewer). The new groups are
appended to the labelled training groups they augment.

The pseudo-labels are written as a table (query id, document id, P(relevant), positive or negative) so
anyone holding labels for those queries can check them. When the split has qrels (a held-apart part of
a labelled split, its labels withheld from training), the audit measures the labeller honestly:
precision (pseudo-positives judged relevant), coverage (queries given a positive) and how many
pseudo-negatives are judged relevant, beside the baseline a label must beat to teach anything: how often
the retriever's own top-1 is judged relevant on the same labelled queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rqbench.training.denoise import probability
from rqbench.training.groups import Passage, TrainingGroup
from rqbench.types import Run, sort_ranking

if TYPE_CHECKING:
    from rqbench.data import Dataset


@dataclass
class AugmentAudit:
    positive_threshold: float
    negative_threshold: float
    queries: int = 0
    labelled: int = 0  # queries given a pseudo-positive (the others are dropped)
    negatives: int = 0
    negatives_histogram: dict[int, int] = field(default_factory=dict)  # negatives per labelled query -> queries
    probability_histogram: list[int] = field(default_factory=lambda: [0] * 10)  # of every scored candidate
    judged_queries: int | None = None  # with qrels: labelled queries that have judgements
    true_positives: int | None = None  # pseudo-positives judged relevant
    negatives_judged_relevant: int | None = None
    retriever_top1_relevant: int | None = None  # of the labelled judged queries: the retriever's top-1 judged relevant

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "positive_threshold": self.positive_threshold, "negative_threshold": self.negative_threshold,
            "queries": self.queries, "labelled": self.labelled, "dropped": self.queries - self.labelled,
            "coverage": self.labelled / self.queries if self.queries else None, "negatives": self.negatives,
            "negatives_per_query": {str(k): v for k, v in sorted(self.negatives_histogram.items())},
            "probability_histogram": {"bins": [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10)],
                                      "counts": self.probability_histogram},
        }
        if self.judged_queries is not None:
            out["labels"] = {
                "judged_queries": self.judged_queries, "true_positives": self.true_positives,
                "precision": (self.true_positives or 0) / self.labelled if self.labelled else None,
                "negatives_judged_relevant": self.negatives_judged_relevant,
                "retriever_top1_relevant": self.retriever_top1_relevant,
                "retriever_top1_precision": ((self.retriever_top1_relevant or 0) / self.labelled
                                             if self.labelled else None),
            }
        return out


@dataclass(frozen=True)
class PseudoLabel:
    query_id: str
    doc_id: str
    probability: float
    label: str  # "positive" or "negative"


def augment_groups(run: Run, logits: dict[str, dict[str, float]], dataset: Dataset, split: str, *,
                   depth: int = 50, positive_threshold: float = 0.9, negative_threshold: float = 0.1,
                   negatives: int = 4) -> tuple[list[TrainingGroup], list[PseudoLabel], AugmentAudit]:
    """Pseudo-labelled groups for the queries of `split`, the labels as a table, and the audit."""
    corpus = dataset.corpus
    qrels = dataset.qrels.get(split)
    audit = AugmentAudit(positive_threshold, negative_threshold)
    if qrels is not None:
        audit.judged_queries = audit.true_positives = audit.negatives_judged_relevant = 0
        audit.retriever_top1_relevant = 0
    groups: list[TrainingGroup] = []
    labels: list[PseudoLabel] = []
    for query in sorted(dataset.split_queries(split), key=lambda q: q.id):
        if not query.text.strip():
            continue
        audit.queries += 1
        scores = logits.get(query.id, {})
        ranking = [sd.docid for sd in sort_ranking(run.get(query.id, []), depth)
                   if sd.docid in corpus and sd.docid in scores]
        probs = {d: probability(scores[d]) for d in ranking}
        for p in probs.values():
            audit.probability_histogram[min(int(p * 10), 9)] += 1
        if not ranking:
            continue
        best = max(ranking, key=lambda d: (scores[d], d))  # by logit: probabilities saturate at 1.0
        if probs[best] <= positive_threshold:
            continue
        chosen = [d for d in ranking if d != best and probs[d] < negative_threshold][:negatives]
        audit.labelled += 1
        audit.negatives += len(chosen)
        audit.negatives_histogram[len(chosen)] = audit.negatives_histogram.get(len(chosen), 0) + 1
        labels.append(PseudoLabel(query.id, best, probs[best], "positive"))
        labels += [PseudoLabel(query.id, d, probs[d], "negative") for d in chosen]
        groups.append(TrainingGroup(query.id, query.text, (Passage(best, corpus[best].contents(), corpus[best].title),),
                                    tuple(Passage(d, corpus[d].contents(), corpus[d].title) for d in chosen)))
        if qrels is not None and query.id in qrels:
            judged = qrels[query.id]
            audit.judged_queries = (audit.judged_queries or 0) + 1
            audit.true_positives = (audit.true_positives or 0) + int(judged.get(best, 0) > 0)
            audit.negatives_judged_relevant = (audit.negatives_judged_relevant or 0) + sum(
                judged.get(d, 0) > 0 for d in chosen)
            audit.retriever_top1_relevant = (audit.retriever_top1_relevant or 0) + int(judged.get(ranking[0], 0) > 0)
    return groups, labels, audit


def labels_tsv(labels: list[PseudoLabel]) -> str:
    """The pseudo-labels as TSV with a header: query_id, doc_id, probability, label."""
    lines = ["query_id\tdoc_id\tprobability\tlabel"]
    lines += [f"{x.query_id}\t{x.doc_id}\t{x.probability:.6f}\t{x.label}" for x in labels]
    return "\n".join(lines) + "\n"
