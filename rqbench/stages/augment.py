"""augment: labelled training groups plus pseudo-labelled groups for another split's queries (RocketQA step 4).

Inputs: `groups` (the labelled groups to augment), `run` (a retriever's run on the pseudo-labelled split)
and `scores` (the cross-encoder's logits of its top-`depth`). Output: ``groups.jsonl`` (the input groups,
then the new ones), ``pseudo_labels.tsv`` and ``audit.json`` (see `rqbench.training.augment`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rqbench.io import atomic_write_json, atomic_write_text
from rqbench.stages.base import BuildContext, StageKind


@dataclass(frozen=True)
class AugmentParams:
    split: str = "unlabeled"
    depth: int = 50
    positive_threshold: float = 0.9
    negative_threshold: float = 0.1
    negatives: int = 4
    corpus: str = ""
    queries: str = ""
    qrels: str = ""  # the split's qrels, when it has them: the audit measures the labeller against them

    def __post_init__(self) -> None:
        if self.depth < 1 or self.negatives < 0:
            raise ValueError(f"augment depth must be >= 1 and negatives >= 0, got {self.depth}, {self.negatives}")
        if not 0.0 < self.negative_threshold <= self.positive_threshold < 1.0:
            raise ValueError("augment thresholds must satisfy 0 < negative <= positive < 1, got "
                             f"{self.negative_threshold}, {self.positive_threshold}")


def produce(ctx: BuildContext) -> None:
    from rqbench.stages.score import SCORES_FILE, read_scores
    from rqbench.training.augment import augment_groups, labels_tsv
    from rqbench.training.groups import iter_groups, write_groups
    from rqbench.types import read_trec_run

    p: AugmentParams = ctx.params
    run = read_trec_run(ctx.input_path("run") / "run.trec")
    logits = read_scores(ctx.input_path("scores") / SCORES_FILE)
    new, labels, audit = augment_groups(run, logits, ctx.dataset, p.split, depth=p.depth,
                                        positive_threshold=p.positive_threshold,
                                        negative_threshold=p.negative_threshold, negatives=p.negatives)
    base = list(iter_groups(ctx.input_path("groups") / "groups.jsonl"))
    taken = {g.query_id for g in base}
    clash = [g.query_id for g in new if g.query_id in taken]
    if clash:
        from rqbench.errors import RqbenchError

        raise RqbenchError(f"augmented split '{p.split}' shares query ids with the labelled groups (e.g. "
                           f"'{clash[0]}'): pseudo-labels would overwrite labels")
    write_groups([*base, *new], ctx.out / "groups.jsonl")
    atomic_write_text(ctx.out / "pseudo_labels.tsv", labels_tsv(labels))
    atomic_write_json(ctx.out / "audit.json", {**audit.to_json(), "split": p.split, "labelled_groups": len(base),
                                               "pseudo_labelled_groups": len(new)})


KIND = StageKind(
    name="augment", version=1, inputs={"groups": "groups", "run": "run", "scores": "scores"}, output="groups",
    Params=AugmentParams, doc="labelled groups plus cross-encoder pseudo-labelled groups of another split; audited",
    produce=produce,
)
