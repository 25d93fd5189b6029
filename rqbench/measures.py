"""Measures through ir-measures: parsing names in any accepted spelling (`rqbench.measure_names`), aggregate
and per-query values, and a plain-words definition recorded with every result.

Aggregates are computed exactly as `ir_measures.calc_aggregate` does (the measure's own aggregator over
`iter_calc`), so they equal ir-measures' numbers for the same files to the last bit. Every query in the
qrels counts: one the run does not answer scores 0 (trec_eval -c); run queries without qrels are ignored.

Ties: ir-measures' providers disagree on tied scores (its msmarco provider, the default for RR, puts the
smaller docid first; pytrec_eval, i.e. trec_eval, the larger). rqbench evaluates the order of
`rqbench.types.sort_ranking` (score desc, then docid desc, as trec_eval) for every measure, by handing
ir-measures strictly decreasing rank scores. Without ties this changes nothing; with ties every measure
sees the same ranking: the one written in our run files.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError
from rqbench.measure_names import UnknownName, split_measures, to_ir_measures
from rqbench.types import Qrels, Run, ScoredDoc, sort_ranking

if TYPE_CHECKING:
    from ir_measures import Measure

DEFAULT_CURVE_CUTOFFS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

_DEFINITIONS = {
    "RR": "reciprocal rank of the first relevant document{cut}, averaged over all judged queries "
          "(MS MARCO's MRR{cutname})",
    "R": "recall{cut}: relevant documents retrieved / all relevant documents of the query (trec_eval "
         "recall; NOT the hit rate)",
    "Success": "hit rate{cut}: 1 if any relevant document is retrieved, else 0 (what RocketQA and DPR "
               "call 'Recall@k')",
    "nDCG": "normalised discounted cumulative gain{cut} with graded gains (trec_eval ndcg_cut)",
    "AP": "average precision{cut} (trec_eval map)",
    "P": "precision{cut}: relevant retrieved / k",
}


@dataclass(frozen=True)
class Evaluation:
    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]]  # measure -> qid -> value
    definitions: dict[str, str]
    n_queries: int


def parse_measure(name: str, where: str | None = None) -> Measure:
    """An ir-measures measure from any accepted spelling: ir-measures' ('RR@10', 'R(rel=2)@1000'), an alias
    in any case ('MRR@10', 'ndcg@10', 'hit@10'), or trec_eval's ('ndcg_cut.10', 'recall_100', 'recip_rank').
    Unknown or malformed: a one-line RqbenchError with a "did you mean"; `where` names the source."""
    import ir_measures

    text = name.strip()
    if not text:
        raise RqbenchError("empty measure name", where)
    try:
        measure = ir_measures.parse_measure(to_ir_measures(text))
    except UnknownName as exc:
        raise RqbenchError(f"unknown or malformed measure '{text}'{exc.hint}", where) from None
    except (NameError, ValueError, TypeError, SyntaxError, KeyError) as exc:
        raise RqbenchError(f"unknown or malformed measure '{text}' ({exc})", where) from None
    problem = _parameter_problem(measure)
    if problem:
        raise RqbenchError(f"unknown or malformed measure '{text}' ({problem})", where)
    return measure


def _parameter_problem(measure: Measure) -> str | None:
    """What is wrong with a parsed measure's parameters (ir-measures itself only checks when evaluating)."""
    supported = measure.SUPPORTED_PARAMS
    unknown = sorted(set(measure.params) - set(supported))
    if unknown:
        return f"{measure.NAME} has no parameter {', '.join(unknown)}; it takes {', '.join(sorted(supported))}"
    for key, info in supported.items():
        if key not in measure.params:
            if info.required:
                at = f", as in {measure.NAME}@10" if key == measure.AT_PARAM else ""
                return f"{measure.NAME} needs its parameter '{key}'{at}"
        elif not info.validate(measure.params[key]):
            if isinstance(info.choices, list | tuple | set | frozenset):
                return f"invalid {key}={measure.params[key]!r}; choose from {', '.join(map(repr, info.choices))}"
            kind = getattr(info.dtype, "__name__", None)
            return f"invalid {key}={measure.params[key]!r}" + (f"; it must be {kind}" if kind else "")
    return None


def parse_measure_list(values: Sequence[str], where: str | None = None) -> list[Measure]:
    """Measures from names and lists of names ("nDCG@10 P@5", "nDCG@10,R(rel=2)@1000": whitespace and commas
    outside parentheses separate), each name as `parse_measure` takes it; de-duplicated, in order."""
    if isinstance(values, str):
        values = [values]
    out: dict[str, Measure] = {}
    for value in values:
        try:
            names = list(split_measures(value))
        except ValueError as exc:
            raise RqbenchError(f"unknown or malformed measure list: {exc}", where) from None
        for name in names:
            measure = parse_measure(name, where)
            out.setdefault(str(measure), measure)
    if not out:
        raise RqbenchError("no measures given", where)
    return list(out.values())


def parse_measures(names: Sequence[str], where: str | None = None) -> list[Measure]:
    """`parse_measure_list` (kept for callers of the older name)."""
    return parse_measure_list(names, where)


def definition(measure: Any) -> str:
    """One sentence saying exactly what `measure` computes; recorded next to its value."""
    params = dict(measure.params)
    cutoff = params.pop("cutoff", None)
    cut = f" in the top {cutoff}" if cutoff is not None else ""
    template = _DEFINITIONS.get(measure.NAME)
    text = (template.format(cut=cut, cutname=f"@{cutoff}" if cutoff else "") if template
            else f"ir-measures {measure.NAME}{cut}")
    rel = params.pop("rel", None)
    if rel is not None:
        text += f"; relevant means relevance >= {rel}"
    elif measure.NAME in {"RR", "R", "Success", "AP", "P"}:
        text += "; relevant means relevance >= 1"
    if params:
        text += "; parameters " + ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{measure}: {text} (ir-measures {_ir_measures_version()})"


def evaluate(run: Run, qrels: Qrels, measures: Iterable[Any]) -> Evaluation:
    """Aggregate and per-query values; every qrels query is present in every per-query map."""
    import ir_measures

    measures = list(measures)
    run_scores = {qid: _rank_scores(docs) for qid, docs in run.items()}
    evaluator = ir_measures.evaluator(measures, qrels)
    aggregators = {m: m.aggregator() for m in measures}
    per_query: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    for metric in evaluator.iter_calc(run_scores):
        aggregators[metric.measure].add(metric.value)
        per_query[str(metric.measure)][metric.query_id] = float(metric.value)
    return Evaluation(
        aggregate={str(m): float(agg.result()) for m, agg in aggregators.items()},
        per_query=per_query,
        definitions={str(m): definition(m) for m in measures},
        n_queries=len(qrels),
    )


def _rank_scores(docs: list[ScoredDoc]) -> dict[str, float]:
    ranked = sort_ranking(docs)
    return {sd.docid: float(len(ranked) - i) for i, sd in enumerate(ranked)}


def curve_measures(cutoffs: Sequence[int] = DEFAULT_CURVE_CUTOFFS) -> list[Any]:
    """R@k and Success@k at `cutoffs`, for the report's recall curves."""
    import ir_measures

    return [ir_measures.R @ k for k in cutoffs] + [ir_measures.Success @ k for k in cutoffs]


def curves(run: Run, qrels: Qrels, depth: int) -> dict[str, dict[str, float]]:
    cutoffs = [k for k in DEFAULT_CURVE_CUTOFFS if k <= depth] or [depth]
    result = evaluate(run, qrels, curve_measures(cutoffs)).aggregate
    return {name: {str(k): result[f"{name}@{k}"] for k in cutoffs} for name in ("R", "Success")}


@functools.cache
def _ir_measures_version() -> str:  # asked once per measure per evaluation: the metadata lookup costs more
    from importlib.metadata import version

    return version("ir-measures")
