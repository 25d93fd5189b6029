"""Hard-negative candidate pools mined from a retriever's ranking (RocketQA, arXiv 2010.08191, section 4.2).

Owns the mining rule: for each judged query of a split, the top-`depth` documents of any retriever's run
(BM25, a dense model, an imported run), without the query's judged positives, in rank order, are its
negative pool. Which of them a training step uses is the trainer's choice (`negative_sampling`:
"random" draws afresh every epoch with the seed, as RocketQA samples from the retriever's top-k rather
than taking the first n, which are the likeliest false negatives; "top" takes them in rank order).
Judged positives are always excluded: a judged positive is never a negative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rqbench.errors import RqbenchError
from rqbench.training.groups import Passage, TrainingGroup, positives_of
from rqbench.types import Run, sort_ranking

if TYPE_CHECKING:
    from rqbench.data import Dataset


def mine_candidates(run: Run, dataset: Dataset, split: str, depth: int) -> list[TrainingGroup]:
    """Training groups for `split`: qrels positives plus the run's top-`depth` non-positives, in rank order.

    Queries of the qrels that the run does not cover get no negatives (the trainer fills the pool up).
    Documents not in the corpus are skipped.
    """
    if depth < 1:
        raise RqbenchError(f"mining depth must be >= 1, got {depth}")
    qrels = dataset.split_qrels(split)
    queries = {q.id: q for q in dataset.split_queries(split)}
    corpus = dataset.corpus
    groups = []
    for qid in sorted(qrels):
        query = queries.get(qid)
        positive_ids = [d for d in positives_of(qrels[qid]) if d in corpus]
        if query is None or not query.text.strip() or not positive_ids:
            continue
        judged_positive = {d for d, rel in qrels[qid].items() if rel > 0}
        candidates = [sd.docid for sd in sort_ranking(run.get(qid, []), depth)
                      if sd.docid in corpus and sd.docid not in judged_positive]
        groups.append(TrainingGroup(
            qid, query.text,
            tuple(Passage(d, corpus[d].contents(), corpus[d].title) for d in positive_ids),
            tuple(Passage(d, corpus[d].contents(), corpus[d].title) for d in candidates),
        ))
    if not groups:
        raise RqbenchError(f"split '{split}' has no query with a judged positive in the corpus", dataset.source)
    return groups
