"""Calibrated fusion: a logistic regression over the member runs' scores, so a fused score is P(relevant).

Features of a (query, document) pair, for each member run in order: its normalised score for the document
(`fusion.normalise_scores`, per query; 0 when the member did not retrieve the document, which under `zscore`
is the member's mean) and a 0/1 "retrieved by this member" indicator (so the fit can tell "missing" from "0").
The pairs are every document any member retrieved (each member cut to `depth` first) for the queries judged in
the qrels; the label is 1 when the document's grade is at least `rel`, else 0, unjudged documents included.

The fit is scikit-learn's LogisticRegression (lbfgs, C = 1.0, deterministic); `expected_calibration_error`,
`reliability_table` and `calibration_of` say how well probabilities match observed relevance rates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.fusion import NORMALISATIONS, check_choice, check_depth, cut_runs, normalise_scores, query_union
from rqbench.types import Qrels, Run, ScoredDoc, sort_ranking

SCHEMA = 1
KIND = "rqbench-calibrated-fusion"
C = 1.0  # fixed regularisation: no tuning on the fitting queries


def _features(members: list[Run], qids: Sequence[str], normalisation: str) -> tuple[list[tuple[str, str]], list]:
    """The (qid, docid) pairs, sorted, and their feature rows (scores then indicators, one of each per member)."""
    keys: list[tuple[str, str]] = []
    rows: list[list[float]] = []
    for qid in qids:
        normalised = [normalise_scores(run.get(qid, []), normalisation) for run in members]
        for docid in sorted(set().union(*normalised)):
            keys.append((qid, docid))
            rows.append([n.get(docid, 0.0) for n in normalised] + [float(docid in n) for n in normalised])
    return keys, rows


@dataclass(frozen=True)
class CalibratedFusion:
    """A fitted calibrated fusion of `members` runs (in the order they were given to `fit_calibrated`)."""

    normalisation: str
    members: int
    coefficients: tuple[float, ...]  # the members' score weights, then their "retrieved" indicator weights
    intercept: float
    depth: int | None
    rel: int
    fitted_queries: int
    fitted_pairs: int
    fitted_positives: int
    fitted_ece: float  # in-sample: on the pairs it was fitted on

    def apply(self, runs: Sequence[Run]) -> Run:
        """The fused run, scores = P(relevant); each member cut to the fit's depth, and so is the result."""
        import numpy as np

        if len(runs) != self.members:
            raise RqbenchError(f"the calibrated fusion was fitted on {self.members} runs, given {len(runs)}: "
                               "give the same kind of runs in the same order")
        members = cut_runs(runs, self.depth)
        keys, rows = _features(members, query_union(members), self.normalisation)
        if not keys:
            return {}
        z = np.asarray(rows, dtype=float) @ np.asarray(self.coefficients) + self.intercept
        probs = 1.0 / (1.0 + np.exp(-z))
        fused: dict[str, list[ScoredDoc]] = {}
        for (qid, docid), p in zip(keys, probs.tolist(), strict=True):
            fused.setdefault(qid, []).append(ScoredDoc(docid, p))
        return {qid: sort_ranking(docs, self.depth) for qid, docs in fused.items()}

    def to_json(self) -> str:
        return json.dumps({"schema": SCHEMA, "kind": KIND, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CalibratedFusion:
        """The fit `to_json` wrote; anything else is a one-line RqbenchError."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RqbenchError(f"not a calibrated fusion model: invalid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise RqbenchError("not a calibrated fusion model (written by rqbench fuse --save-model)")
        if data.get("schema") != SCHEMA:
            raise RqbenchError(f"calibrated fusion model schema {data.get('schema')!r}; this rqbench reads {SCHEMA}")
        missing = sorted(set(cls.__dataclass_fields__) - data.keys())
        if missing:
            raise RqbenchError(f"calibrated fusion model without {', '.join(missing)}")
        try:
            model = cls(normalisation=str(data["normalisation"]), members=int(data["members"]),
                        coefficients=tuple(float(c) for c in data["coefficients"]),
                        intercept=float(data["intercept"]),
                        depth=None if data["depth"] is None else int(data["depth"]), rel=int(data["rel"]),
                        fitted_queries=int(data["fitted_queries"]), fitted_pairs=int(data["fitted_pairs"]),
                        fitted_positives=int(data["fitted_positives"]), fitted_ece=float(data["fitted_ece"]))
        except (TypeError, ValueError):
            raise RqbenchError("calibrated fusion model with malformed values") from None
        check_depth(model.depth)
        check_choice("normalisation", model.normalisation, NORMALISATIONS)
        finite = all(map(math.isfinite, (*model.coefficients, model.intercept)))
        if model.members < 1 or len(model.coefficients) != 2 * model.members or not finite:
            raise RqbenchError(f"calibrated fusion model: expected {2 * model.members} finite coefficients")
        return model


def _relevant(judged: dict[str, int], docid: str, rel: int) -> int:
    """1 when `docid` is judged with a grade of at least `rel`; unjudged documents are non-relevant."""
    return int(docid in judged and judged[docid] >= rel)


def fit_calibrated(runs: Sequence[Run], qrels: Qrels, normalisation: str = "zscore", depth: int | None = None,
                   rel: int = 1) -> CalibratedFusion:
    """Fit on the queries both judged in `qrels` and answered by a member run (see the module's docstring).

    Refused (RqbenchError) when there is no such query, or when the pairs are all relevant or all not."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    check_choice("normalisation", normalisation, NORMALISATIONS)
    if not runs:
        raise RqbenchError("no runs to fit a calibrated fusion on")
    members = cut_runs(runs, depth)
    qids = [qid for qid in query_union(members) if qid in qrels]
    if not qids:
        raise RqbenchError("no query is both judged in the qrels and answered by the runs: nothing to fit on "
                           "(do the query ids match?)")
    keys, rows = _features(members, qids, normalisation)
    labels = [_relevant(qrels[qid], docid, rel) for qid, docid in keys]
    positives = sum(labels)
    if positives == 0 or positives == len(labels):
        kind = "relevant" if positives == 0 else "non-relevant"
        raise RqbenchError(f"no {kind} (query, document) pair among the {len(labels)} retrieved for the "
                           f"{len(qids)} judged queries (relevant: grade >= {rel}): cannot fit")
    model = LogisticRegression(C=C, solver="lbfgs", max_iter=1000)
    x = np.asarray(rows, dtype=float)
    model.fit(x, np.asarray(labels))
    probs = model.predict_proba(x)[:, 1].tolist()
    return CalibratedFusion(normalisation=normalisation, members=len(runs),
                            coefficients=tuple(float(c) for c in model.coef_[0]),
                            intercept=float(model.intercept_[0]), depth=depth, rel=rel, fitted_queries=len(qids),
                            fitted_pairs=len(labels), fitted_positives=positives,
                            fitted_ece=expected_calibration_error(probs, labels))


def _check_probs(probs: Sequence[float], labels: Sequence[int], bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise RqbenchError(f"bins must be a whole number of at least 1, not {bins!r}")
    if len(probs) != len(labels):
        raise RqbenchError(f"{len(probs)} probabilities but {len(labels)} labels")
    if not probs:
        raise RqbenchError("no probabilities to check calibration on")
    if any(not 0.0 <= p <= 1.0 for p in probs):  # NaN fails too
        bad = next(p for p in probs if not 0.0 <= p <= 1.0)
        raise RqbenchError(f"score {bad} is not a probability (0..1): calibrate the run first "
                           "(rqbench fuse --method calibrated)")
    if any(label not in (0, 1) for label in labels):
        raise RqbenchError("labels must be 0 or 1")


def reliability_table(probs: Sequence[float], labels: Sequence[int], bins: int = 10) -> list[dict[str, Any]]:
    """One row per equal-width bin of [0, 1] (the last includes 1): lo, hi, count, mean predicted probability
    and observed rate of relevance (both None for an empty bin): the points of a reliability plot."""
    _check_probs(probs, labels, bins)
    members: list[list[tuple[float, int]]] = [[] for _ in range(bins)]
    for p, label in zip(probs, labels, strict=True):
        members[min(int(p * bins), bins - 1)].append((p, label))
    table = []
    for i, inside in enumerate(members):
        n = len(inside)
        table.append({"lo": i / bins, "hi": (i + 1) / bins, "count": n,
                      "mean_predicted": math.fsum(p for p, _ in inside) / n if n else None,
                      "observed_rate": sum(label for _, label in inside) / n if n else None})
    return table


def expected_calibration_error(probs: Sequence[float], labels: Sequence[int], bins: int = 10) -> float:
    """ECE: over equal-width bins, |mean predicted - observed rate| weighted by the bin's share of the pairs."""
    table = reliability_table(probs, labels, bins)
    total = len(probs)
    return math.fsum(row["count"] / total * abs(row["mean_predicted"] - row["observed_rate"])
                     for row in table if row["count"])


def calibration_of(run: Run, qrels: Qrels, rel: int = 1, depth: int | None = None,
                   bins: int = 10) -> dict[str, Any]:
    """How well `run`'s scores, read as P(relevant), match relevance on the judged queries it answers.

    The pairs are each such query's retrieved documents (its top `depth` when given); a document the qrels do
    not judge counts as non-relevant, as in the fit. Returns ece, brier (mean squared error), queries, pairs,
    positives and the reliability table."""
    probs: list[float] = []
    labels: list[int] = []
    qids = sorted(qid for qid in run if qid in qrels)
    for qid in qids:
        for sd in sort_ranking(run[qid], depth):
            probs.append(sd.score)
            labels.append(_relevant(qrels[qid], sd.docid, rel))
    if not probs:
        raise RqbenchError("no retrieved document of a judged query: nothing to measure calibration on")
    table = reliability_table(probs, labels, bins)
    return {"ece": expected_calibration_error(probs, labels, bins),
            "brier": math.fsum((p - y) ** 2 for p, y in zip(probs, labels, strict=True)) / len(probs),
            "queries": len(qids), "pairs": len(probs), "positives": sum(labels), "table": table}
