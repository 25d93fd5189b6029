"""judge: a run-based teacher's P(relevant) of each candidate in another run's top-`depth`, as a `scores`
artifact, so that any teacher that gives probabilities can denoise and label as a cross-encoder does.

Inputs: `run` (the candidates, e.g. the retriever mined for negatives) and `teacher` (a run whose scores are
P(relevant), e.g. a calibrated fusion of several models). Output: `scores.tsv` in the `score` stage's
format (query, document, logit), the logit being log(p / (1 - p)) so that sigmoid gives p back. A candidate
the teacher's run does not hold gets p = 0 (the teacher did not retrieve it: no evidence of relevance),
written as a logit of -`MAX_LOGIT`; the count of such candidates is in `judge.json`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rqbench.stages.base import BuildContext, StageKind

MAX_LOGIT = 30.0  # |logit| cap: p = 0 or 1 exactly would be infinite


@dataclass(frozen=True)
class JudgeParams:
    split: str
    depth: int = 50

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"judge depth must be >= 1, got {self.depth}")


def logit(p: float) -> float:
    """log(p / (1 - p)) within +-MAX_LOGIT."""
    if p <= 0.0:
        return -MAX_LOGIT
    if p >= 1.0:
        return MAX_LOGIT
    return max(-MAX_LOGIT, min(MAX_LOGIT, math.log(p / (1.0 - p))))


def produce(ctx: BuildContext) -> None:
    from rqbench.errors import RqbenchError
    from rqbench.io import atomic_write_json, atomic_write_text
    from rqbench.stages.score import SCORES_FILE
    from rqbench.types import read_trec_run, sort_ranking

    p: JudgeParams = ctx.params
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    teacher = {qid: {h.docid: h.score for h in hits}
               for qid, hits in read_trec_run(ctx.input_path("teacher") / "run.trec").items()}
    bad = next(((q, d, s) for q, docs in teacher.items() for d, s in docs.items() if not 0.0 <= s <= 1.0), None)
    if bad is not None:
        raise RqbenchError(f"the teacher's run scores ({bad[0]}, {bad[1]}) at {bad[2]}: a teacher's scores must be "
                           "probabilities (use a fusion with method = 'calibrated')")
    lines, unscored, pairs = [], 0, 0
    for qid in sorted(run):
        probs = teacher.get(qid, {})
        for hit in sort_ranking(run[qid], p.depth):
            pairs += 1
            unscored += hit.docid not in probs
            lines.append(f"{qid}\t{hit.docid}\t{logit(probs.get(hit.docid, 0.0))!r}\n")
    atomic_write_text(ctx.out / SCORES_FILE, "".join(lines))
    atomic_write_json(ctx.out / "judge.json", {"pairs": pairs, "not_in_teacher_run": unscored,
                                               "teacher": ctx.node.runtime.get("teacher", "")})


KIND = StageKind(
    name="judge", version=1, inputs={"run": "run", "teacher": "run"}, output="scores", Params=JudgeParams,
    doc="a teacher run's P(relevant) of each candidate in a run's top-depth, as scores (for denoise/augment)",
    produce=produce,
)
