"""audit: RocketQA's premise measured on densely judged qrels: how many of a run's mined hard negatives are
relevant passages nobody labelled, and how precisely each teacher removes them (`rqbench.negatives_audit`:
all but `keep` relevant passages per query are hidden, the run's top-`depth` minus the kept ones is mined).

Inputs: `run` (the miner, on the audited split) and `teacher0`... (`scores` of the run's top-`depth`: a
cross-encoder's logits, or a calibrated fusion's P(relevant) as logits from a `judge` node; sigmoid gives P).
Output: `audit.json`, the audit with the teachers under their names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rqbench.negatives_audit import MAX_TEACHERS
from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class AuditParams:
    split: str
    qrels: str = ""  # content fingerprint of the split's qrels
    depth: int = 50
    keep: int = 1
    rel: int = 1
    seed: int = 0
    threshold: float = 0.1
    teachers: list[str] = field(default_factory=list)  # the teachers' names, in input order

    def __post_init__(self) -> None:
        if len(self.teachers) > MAX_TEACHERS:
            raise ValueError(f"an audit takes at most {MAX_TEACHERS} teachers, got {len(self.teachers)}")


def produce(ctx: BuildContext) -> None:
    from rqbench.io import atomic_write_json
    from rqbench.negatives_audit import audit_negatives
    from rqbench.stages.score import SCORES_FILE, read_scores
    from rqbench.training.denoise import probability
    from rqbench.types import read_trec_run

    p: AuditParams = ctx.params
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    teachers = {}
    for i, name in enumerate(p.teachers):
        logits = read_scores(ctx.input_path(f"teacher{i}") / SCORES_FILE)
        teachers[name] = {qid: {d: probability(x) for d, x in docs.items()} for qid, docs in logits.items()}
    audit = audit_negatives(run, ctx.dataset.split_qrels(p.split), depth=p.depth, keep=p.keep, rel=p.rel,
                            seed=p.seed, teachers=teachers, threshold=p.threshold)
    atomic_write_json(ctx.out / "audit.json", {"split": p.split, **audit})


KIND = StageKind(
    name="audit", version=1,
    inputs={"run": "run", **{f"teacher{i}": "scores?" for i in range(MAX_TEACHERS)}}, output="audit",
    Params=AuditParams,
    doc="the false negatives among a run's mined negatives on densely judged qrels, and each teacher's removal",
    produce=produce,
)
