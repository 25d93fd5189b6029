"""Putting parsed parts together into a Dataset: picking each split's queries, and the counted warnings.

Why warnings and not errors: standard collections judge documents that are not in the distributed
corpus (TREC DL's qrels name passages outside the pooled subset), and qrels files often cover more
topics than a query file holds. Refusing them would refuse real benchmarks, so they are counted and
reported. Judgements for queries without text are dropped (nothing can be run for them); judgements
for absent documents are kept (they change nothing for measures of retrieved documents).
"""

from __future__ import annotations

from pathlib import Path

from rqbench.data.dataset import Dataset
from rqbench.errors import RqbenchError
from rqbench.types import Doc, Qrels, Query, check_id

Source = Path | str
"""Where a part came from: a file (named relative to the dataset folder in warnings) or an id."""


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


class Assembler:
    def __init__(self, name: str, source: str, root: Path | None = None):
        self.name = name
        self.source = source
        self.root = root
        self.warnings: list[str] = []

    def label(self, where: Source) -> str:
        if isinstance(where, Path) and self.root is not None and where.is_relative_to(self.root):
            return where.relative_to(self.root).as_posix()
        return str(where)

    def build(
        self,
        corpus: dict[str, Doc],
        corpus_from: Source,
        queries: dict[str, tuple[dict[str, Query], Source]],
        qrels: dict[str, tuple[Qrels, Source]],
        pool: tuple[dict[str, Query], Source] | None = None,
    ) -> Dataset:
        """`queries`: split -> (queries, file); `pool`: queries shared by splits, picked by their qrels."""
        if self.root is None:  # not read from files (ir_datasets): the readers checked no id
            self._check_ids(corpus, corpus_from, queries, qrels, pool)
        self._check_empty_docs(corpus, corpus_from)
        split_queries: dict[str, dict[str, Query]] = {}
        split_qrels: dict[str, Qrels] = {}
        for split in sorted(set(queries) | set(qrels)):
            if split in queries:
                chosen, chosen_from = queries[split]
            elif pool is not None:
                judged = qrels[split][0]
                chosen = {qid: q for qid, q in pool[0].items() if qid in judged}
                chosen_from = pool[1]
            else:
                raise RqbenchError(
                    f"no queries for split '{split}' (expected a query file named for that split)",
                    qrels[split][1],
                )
            split_queries[split] = chosen
            if split in qrels:
                split_qrels[split] = self._check_qrels(qrels[split][0], qrels[split][1], chosen, chosen_from, corpus)
        if pool is not None:
            used = {qid for qs in split_queries.values() for qid in qs}
            unused = sum(1 for qid in pool[0] if qid not in used)
            if unused:
                self.warnings.append(
                    f"{self.label(pool[1])}: {_plural(unused, 'query', 'queries')} judged in no qrels "
                    "file (not loaded into any split)"
                )
        if not split_queries:
            raise RqbenchError("no query files found for this dataset", self.source)
        return Dataset(self.name, self.source, corpus, split_queries, split_qrels, self.warnings)

    @staticmethod
    def _check_ids(
        corpus: dict[str, Doc],
        corpus_from: Source,
        queries: dict[str, tuple[dict[str, Query], Source]],
        qrels: dict[str, tuple[Qrels, Source]],
        pool: tuple[dict[str, Query], Source] | None,
    ) -> None:
        """Empty ids and ids with whitespace are errors (see rqbench.types.check_id)."""
        for docid in corpus:
            check_id("document", docid, corpus_from)
        for chosen, chosen_from in [*queries.values(), *([pool] if pool is not None else [])]:
            for qid in chosen:
                check_id("query", qid, chosen_from)
        for judgements, judged_from in qrels.values():
            for qid, judged in judgements.items():
                check_id("query", qid, judged_from)
                for docid in judged:
                    check_id("document", docid, judged_from)

    def _check_empty_docs(self, corpus: dict[str, Doc], corpus_from: Source) -> None:
        empty = sum(1 for doc in corpus.values() if not doc.text.strip() and not doc.title.strip())
        if empty:
            self.warnings.append(
                f"{self.label(corpus_from)}: {_plural(empty, 'document')} with empty title and text (kept)"
            )

    def _check_qrels(
        self, qrels: Qrels, qrels_from: Source, queries: dict[str, Query], queries_from: Source, corpus: dict
    ) -> Qrels:
        where = self.label(qrels_from)
        textless = [qid for qid in qrels if qid not in queries]
        if len(textless) == len(qrels):
            raise RqbenchError(
                f"none of the {len(qrels)} judged query ids has a query in {self.label(queries_from)} "
                "(do the ids match?)",
                qrels_from,
            )
        if textless:
            dropped = sum(len(qrels[qid]) for qid in textless)
            self.warnings.append(
                f"{where}: {_plural(dropped, 'judgement')} for {len(textless)} query ids with no query "
                f"text in {self.label(queries_from)} were dropped"
            )
            qrels = {qid: judged for qid, judged in qrels.items() if qid in queries}
        absent_docs: set[str] = set()
        absent, absent_relevant = 0, 0
        for judged in qrels.values():
            for docid, rel in judged.items():
                if docid not in corpus:
                    absent += 1
                    absent_relevant += rel > 0
                    absent_docs.add(docid)
        if absent:
            self.warnings.append(
                f"{where}: {_plural(absent, 'judgement')} ({absent_relevant} of them relevant) name "
                f"{_plural(len(absent_docs), 'document')} not in the corpus (kept: judged documents "
                "outside a pooled corpus are normal, e.g. TREC DL)"
            )
        unjudged = sum(1 for qid in queries if qid not in qrels)
        if unjudged:
            self.warnings.append(
                f"{self.label(queries_from)}: {unjudged} of {len(queries)} queries have no judgements in "
                f"{where} (kept; measures skip them)"
            )
        return qrels
