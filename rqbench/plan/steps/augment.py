"""RocketQA step 4: the groups so far plus pseudo-labelled groups of `augment_split`: `augment_from`'s run on
it, scored by `augment_with` (a re-ranker or a calibrated fusion), its confident passages taken as positives
and negatives (`rqbench.stages.augment`). With `augment_audit_split`, the same labeller on a labelled split
that no model involved trains on, so its precision and coverage can be measured (not trained on)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.errors import RqbenchError
from rqbench.plan.steps.base import Follows, Planning, StepInput, TrainingStep
from rqbench.plan.values import Step, ratio, stage_params, whole
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.augment import AugmentParams

if TYPE_CHECKING:
    from rqbench.data.dataset import Dataset


def check(table: dict[str, Any], where: str) -> None:
    if table.get("augment_audit_split") is not None and table.get("augment_with") is None:
        raise RqbenchError("train.augment_audit_split without train.augment_with / augment_from: there is no "
                           "labeller to audit", where)
    if table.get("task") == "joint" and STEP.applies(table):  # RocketQAv2's "aug" lists: as long as the others
        negatives = whole(table, "augment_negatives", int, 4, where, minimum=0)
        hard = whole(table, "hard_negatives", int, 0, where, minimum=0)
        if negatives < hard:
            raise RqbenchError(f"train.augment_negatives ({negatives}) is below train.hard_negatives ({hard}): the "
                               "joint task's pseudo-labelled lists would repeat negatives to reach K; set "
                               f"augment_negatives = {hard}", where)


def plan(p: Planning, s: StepInput) -> tuple[Node, list[Step]]:
    table, where, variant, dataset = s.table, s.where, s.variant, s.dataset
    for key in ("augment_with", "augment_from"):
        if table.get(key) is None:
            raise RqbenchError("train.augment_with (the re-ranker that labels) and train.augment_from (the "
                               "retriever whose top-k it labels) go together", where)
    split = whole(table, "augment_split", str, "unlabeled", where)
    p.check_split(dataset, split, variant.line, need_qrels=False)
    evaluated = [(ev.name, user.name) for ev in p.suite.evaluations for user in p.users_of(variant)
                 if ev.split == split and (user.evaluate_on is None or ev.name in user.evaluate_on)
                 and p.dataset(ev.dataset, ev.line_of_dataset()) is dataset]
    if evaluated:
        name, user = evaluated[0]
        whose = "" if user == variant.name else f" (through '{user}', which uses this model)"
        raise RqbenchError(f"train.augment_split '{split}' is evaluation set '{name}'{whose}: training on its "
                           "pseudo-labelled queries would leak them; augment another split", where)
    depth = whole(table, "augment_depth", int, 50, where, minimum=1)
    negatives = whole(table, "augment_negatives", int, 4, where, minimum=0)
    positive = ratio(table, "augment_positive", 0.9, where)
    negative = ratio(table, "augment_negative", 0.1, where)
    source = p.suite.reference(table["augment_from"], variant)
    run, steps = p.run_of(source, dataset, split, depth, False, "augment_from:")
    scorer = p.suite.reference(table["augment_with"], variant)
    score, score_steps = p.score_of(scorer, run, dataset, split, depth, "augment_with:")
    settings = {"depth": depth, "positive_threshold": positive, "negative_threshold": negative,
                "negatives": negatives}
    assert s.groups is not None
    node = _augment_node(p, s, split, settings, run, score)
    steps = [*steps, *score_steps, ("augment", node)]
    if table.get("augment_audit_split") is not None:  # the same labeller on a labelled split nobody trains on
        steps += _labeller_audit(p, s, split, settings)
    return node, steps


def _augment_node(p: Planning, s: StepInput, split: str, settings: dict[str, Any], run: Node, score: Node,
                  label: str = "") -> Node:
    dataset = s.dataset
    assert s.groups is not None
    return p.add(Node(STAGE_KINDS["augment"], stage_params(
        AugmentParams, s.where, split=split, **settings, corpus=dataset.fingerprint("corpus"),
        queries=dataset.fingerprint(f"queries/{split}"),
        qrels=dataset.fingerprint(f"qrels/{split}") if split in dataset.qrels else ""),
        {"groups": Input(s.groups), "run": Input(run), "scores": Input(score)}, dataset,
        label=label or s.variant.name))


def _labeller_audit(p: Planning, s: StepInput, split: str, settings: dict[str, Any]) -> list[Step]:
    """`train.augment_audit_split`: the labeller run as for `augment_split`, on a split whose qrels are withheld
    from every model involved, so the audit can measure its precision and coverage; its groups are not trained
    on. The split must have qrels, differ from `augment_split`, and share no query with a split that this
    variant or any model behind the audit trains on (the labeller, the retriever whose top-k it labels, and
    whatever those start from or learned from; `trained_splits`): else the precision and coverage would be
    measured on queries they learned."""
    table, where, variant, dataset = s.table, s.where, s.variant, s.dataset
    audit_split = table["augment_audit_split"]
    if not isinstance(audit_split, str) or not audit_split.strip():
        raise RqbenchError("train.augment_audit_split must be the name of a split with qrels", where)
    if audit_split == split:
        raise RqbenchError(f"train.augment_audit_split '{audit_split}' is the augmented split itself: audit the "
                           "labeller on a held-apart labelled split", where)
    p.check_split(dataset, audit_split, variant.line, need_qrels=True)
    scorer = p.suite.reference(table["augment_with"], variant)
    source = p.suite.reference(table["augment_from"], variant)
    audited = {q.id for q in dataset.split_queries(audit_split)}
    run, steps = p.run_of(source, dataset, audit_split, settings["depth"], False, "augment_audit_from:")
    score, score_steps = p.score_of(scorer, run, dataset, audit_split, settings["depth"], "augment_audit_with:")
    own = (variant.name, str(table.get("split", "train")))  # its groups: not an input of the audit, checked too
    for who, train_split in [own, *trained_splits([run, score], dataset)]:
        if train_split in dataset.queries:
            shared = audited & {q.id for q in dataset.split_queries(train_split)}
            if shared:
                raise RqbenchError(f"train.augment_audit_split '{audit_split}' shares {len(shared)} queries with "
                                   f"split '{train_split}', which '{who}' trains on (e.g. '{min(shared)}'): "
                                   "the labeller would be audited on queries it learned from", where)
    node = _augment_node(p, s, audit_split, settings, run, score,
                         label=f"{variant.name} (labeller audit: {audit_split})")
    return [*steps, *score_steps, ("augment_audit", node)]


def trained_splits(roots: list[Node], dataset: Dataset) -> list[tuple[str, str]]:
    """(who, split) for every split of `dataset` any model behind `roots` trained on, however far back: the
    training data of each train node (every node that makes groups: what a model trains on, hybrid lists
    included; a hybrid node carries its denoise input's label and split), of the models its data was mined or
    labelled with, of the model it starts from, and so on."""
    found: dict[tuple[str, str], None] = {}
    seen: set[tuple[int, bool]] = set()
    stack = [(node, False) for node in roots]
    while stack:
        node, under_training = stack.pop()
        if (id(node), under_training) in seen:
            continue
        seen.add((id(node), under_training))
        under_training = under_training or node.kind.name == "train"
        if under_training and node.kind.output == "groups" and node.dataset is dataset:
            found[(node.label, str(node.params.split))] = None
        stack += [(edge.node, under_training) for edge in node.inputs.values()]
    return list(found)


STEP = TrainingStep(
    kind="augment", position="transform",
    keys=("augment_with", "augment_from", "augment_split", "augment_depth", "augment_positive", "augment_negative",
          "augment_negatives", "augment_audit_split"),
    follows=(Follows("augment_from", "run", "run"), Follows("augment_with", "scores", "scores")),
    applies=lambda table: table.get("augment_with") is not None or table.get("augment_from") is not None,
    plan=plan, check=check, doc="RocketQA's pseudo-labelled groups of unlabeled queries, appended")
