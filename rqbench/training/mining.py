"""Hard negatives mined from a retriever's ranking (RocketQA, arXiv 2010.08191, section 4.2).

Owns the mining rule: for each judged query of a split, the top-`depth` documents of any retriever's
run (BM25, a dense model, ...) without the query's judged positives are the candidates, and `n` of them
are sampled uniformly (RocketQA samples its hard negatives from the top-k of the retriever rather than
taking the top n, which are the likeliest false negatives). The generator is seeded by (seed, query id),
so the result does not depend on the order of queries or on the machine. Sampled negatives are kept in
rank order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rqbench.errors import RqbenchError
from rqbench.training.groups import Passage, TrainingGroup, positives_of, query_rng
from rqbench.types import Run, sort_ranking

if TYPE_CHECKING:
    from rqbench.data import Dataset


def mine_hard_negatives(run: Run, dataset: Dataset, split: str, depth: int, n: int, seed: int,
                        exclude_positives: bool = True) -> list[TrainingGroup]:
    """Training groups for `split`: qrels positives plus `n` negatives sampled from the run's top `depth`.

    Queries of the qrels that the run does not cover, or that have fewer than `n` candidates, get what
    there is (possibly no negatives; the trainer fills the pool up). Documents not in the corpus are
    skipped. `exclude_positives=False` keeps judged positives among the candidates (an ablation: raw,
    noisy negatives).
    """
    if depth < 1:
        raise RqbenchError(f"mining depth must be >= 1, got {depth}")
    if n < 0:
        raise RqbenchError(f"number of hard negatives must be >= 0, got {n}")
    qrels = dataset.split_qrels(split)
    queries = {q.id: q for q in dataset.split_queries(split)}
    corpus = dataset.corpus
    groups = []
    for qid in sorted(qrels):
        query = queries.get(qid)
        positive_ids = [d for d in positives_of(qrels[qid]) if d in corpus]
        if query is None or not query.text.strip() or not positive_ids:
            continue
        excluded = set(positive_ids) if exclude_positives else set()
        candidates = [sd.docid for sd in sort_ranking(run.get(qid, []), depth)
                      if sd.docid in corpus and sd.docid not in excluded]
        rank = {docid: i for i, docid in enumerate(candidates)}
        picked = query_rng(seed, qid, "hard-negatives").sample(candidates, min(n, len(candidates)))
        picked.sort(key=rank.__getitem__)
        groups.append(TrainingGroup(
            qid, query.text,
            tuple(Passage(d, corpus[d].contents()) for d in positive_ids),
            tuple(Passage(d, corpus[d].contents()) for d in picked),
        ))
    if not groups:
        raise RqbenchError(f"split '{split}' has no query with a judged positive in the corpus", dataset.source)
    return groups
