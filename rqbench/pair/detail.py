"""Two systems compared query by query: win / tie / loss, every query's difference (for the sorted
difference plot), and the queries where they differ most, each with its text and both systems' top
passages side by side (grade, id, text), so that a person can read why one system wins.

`pair_detail` builds it from two runs and qrels; texts come from a dataset's queries and corpus when
given (ids alone otherwise). Rendered by `rqbench.pair.render` (terminal, Markdown) and
`rqbench.pair.html` (one self-contained page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.stats import PairedComparison, paired_compare
from rqbench.types import Qrels, Run, sort_ranking


@dataclass(frozen=True)
class Passage:
    docid: str
    grade: int | None  # the qrels grade; None: not judged
    text: str  # "" when no corpus was given


@dataclass(frozen=True)
class QueryDiff:
    qid: str
    text: str  # "" when no query texts were given
    a: float
    b: float
    a_top: list[Passage]
    b_top: list[Passage]
    relevant: int  # judged passages with grade >= 1

    @property
    def diff(self) -> float:
        return self.a - self.b


@dataclass(frozen=True)
class PairDetail:
    a: str
    b: str
    measure: str
    label: str  # the qrels: "dataset (split)" or a file
    comparison: PairedComparison  # a - b, paired over every judged query
    diffs: dict[str, float]  # qid -> a - b, every judged query
    queries: list[QueryDiff]  # as many of A's largest wins as of B's (where both have them), largest |a - b| first
    top: int  # passages shown per system
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.05  # the CI is the (1 - alpha) paired bootstrap interval
    baseline: str | None = None  # b when A is a candidate compared with the baseline B (`rqbench compare`)
    test: str = "randomization"  # whose p-value decides the verdict ("t": the paired t-test), as in the table

    def to_markdown(self) -> str:
        from rqbench.pair.render import to_markdown

        return to_markdown(self)

    def to_html(self) -> str:
        from rqbench.pair.html import to_html

        return to_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "baseline": self.baseline, "measure": self.measure,
                "qrels": self.label,
                "comparison": self.comparison.to_dict(), "diffs": self.diffs, "top": self.top,
                "queries": [{"qid": q.qid, "text": q.text, "a": q.a, "b": q.b, "diff": q.diff, "relevant": q.relevant,
                             "a_top": [vars(p) for p in q.a_top], "b_top": [vars(p) for p in q.b_top]}
                            for q in self.queries],
                "notes": self.notes}

    def to_csv(self) -> str:
        """One row per judged query: qid, the difference a - b, and whether the detail shows it."""
        shown = {q.qid for q in self.queries}
        lines = ["qid,diff,shown"]
        lines += [f"{q},{d + 0.0!r},{'' if q not in shown else 'yes'}" for q, d in self.diffs.items()]
        return "\n".join(lines) + "\n"

    def to_frame(self) -> Any:
        """Every judged query's difference (a - b) and whether the detail shows it, as a DataFrame."""
        import pandas as pd

        shown = {q.qid for q in self.queries}
        return pd.DataFrame([{"qid": q, "diff": d, "shown": q in shown} for q, d in self.diffs.items()]
                            ).set_index("qid")

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def pair_detail(
    runs: Mapping[str, Run],
    qrels: Qrels,
    measure: str,
    *,
    label: str = "qrels",
    queries: Mapping[str, str] | None = None,
    corpus: Mapping[str, str] | None = None,
    n: int = 10,
    top: int = 3,
    n_resamples: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    baseline: str | None = None,
    test: str = "randomization",
) -> PairDetail:
    """The drill-down of the two runs in `runs` (first = A, second = B; with `baseline`, B is that run and
    A the other, so that every difference is candidate - baseline, as in a report) on `measure`: the `n`
    queries with the largest differences, half where A wins most and half where B does (all of one side
    when the other has fewer), with `top` passages of each run."""
    from rqbench.measures import evaluate, parse_measure

    if len(runs) != 2:
        raise RqbenchError(f"a query-by-query comparison takes two systems, got {len(runs)}")
    if n < 0 or top < 1:
        raise RqbenchError("--detail must be >= 0 and --top >= 1")
    if baseline is not None:
        if baseline not in runs:
            raise RqbenchError(f"the baseline '{baseline}' is not one of the two systems: {', '.join(runs)}")
        runs = {name: run for name, run in runs.items() if name != baseline} | {baseline: runs[baseline]}
    (a, run_a), (b, run_b) = runs.items()
    m = parse_measure(measure)
    name = str(m)
    values_a = evaluate(run_a, qrels, [m]).per_query[name]
    values_b = evaluate(run_b, qrels, [m]).per_query[name]
    comparison = paired_compare(values_a, values_b, name, n_resamples=n_resamples, seed=seed, alpha=alpha)
    diffs = {q: values_a.get(q, 0.0) - values_b.get(q, 0.0) for q in sorted(qrels)}
    chosen = _largest(diffs, n)
    notes = []
    if n and (queries is None or corpus is None):
        notes.append("no dataset given: queries and passages are shown by id (give --dataset for their texts)")
    out = [QueryDiff(qid=q, text=(queries or {}).get(q, ""), a=values_a.get(q, 0.0), b=values_b.get(q, 0.0),
                     a_top=_top(run_a.get(q, []), qrels.get(q, {}), corpus, top),
                     b_top=_top(run_b.get(q, []), qrels.get(q, {}), corpus, top),
                     relevant=sum(g >= 1 for g in qrels.get(q, {}).values()))
           for q in chosen]
    if corpus is not None:
        unknown = sorted({p.docid for q in out for p in q.a_top + q.b_top if p.docid not in corpus})
        if unknown:
            notes.append(f"{len(unknown)} shown passage(s) are not in the corpus (no text): {', '.join(unknown[:5])}")
    return PairDetail(a=a, b=b, measure=name, label=label, comparison=comparison, diffs=diffs, queries=out,
                      top=top, notes=notes, alpha=alpha, baseline=baseline, test=test)


def texts_of(dataset: str, split: str | None, data_root: str | None = None, *,
             strict: bool = True) -> tuple[dict[str, str], dict[str, str]]:
    """(query id -> text of `split`, passage id -> title + text) of a dataset, for the detail. `split`
    None: the dataset's only split, else "test". Not `strict`: a split without queries gives none."""
    from rqbench.data import load_dataset, resolve_data_root

    data = load_dataset(dataset, resolve_data_root(data_root))
    chosen = split or (data.splits[0] if len(data.splits) == 1 else "test")
    queries = {q.id: q.text for q in data.split_queries(chosen)} if strict or chosen in data.queries else {}
    return queries, {d.id: d.contents() for d in data.corpus.values()}


def _largest(diffs: dict[str, float], n: int) -> list[str]:
    """Up to n query ids: A's largest wins and B's largest wins alternately, starting with the side holding
    the largest difference (ties by id); zero differences never."""
    wins_a = sorted((q for q, d in diffs.items() if d > 0), key=lambda q: (-diffs[q], q))
    wins_b = sorted((q for q, d in diffs.items() if d < 0), key=lambda q: (diffs[q], q))
    sides = (wins_a, wins_b)
    if wins_a and wins_b and abs(diffs[wins_b[0]]) > abs(diffs[wins_a[0]]):
        sides = (wins_b, wins_a)  # the larger single difference first (it decides an odd n)
    out: list[str] = []
    while len(out) < n and (wins_a or wins_b):
        for side in sides:
            if side and len(out) < n:
                out.append(side.pop(0))
    return sorted(out, key=lambda q: (-abs(diffs[q]), q))


def _top(ranking: list, judged: Mapping[str, int], corpus: Mapping[str, str] | None, k: int) -> list[Passage]:
    return [Passage(docid=d.docid, grade=judged.get(d.docid), text=(corpus or {}).get(d.docid, ""))
            for d in sort_ranking(ranking)[:k]]
