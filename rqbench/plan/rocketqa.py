"""The planner's RocketQA steps (arXiv 2010.08191): a re-ranker's run (`score` then `rerank`), denoised
hard negatives (`denoise`) and pseudo-label augmentation (`augment`), as a mixin of the planner
(`rqbench.plan._Planner`), which supplies `suite`, `add`, `backend`, `run_of`, `checkpoint_of` and
`_check_split`. References between variants resolve per seed (`Suite.reference`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.backend import capabilities, params_dict
from rqbench.errors import RqbenchError
from rqbench.plan.values import Step, ratio, seed_of, stage_params, whole
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.augment import AugmentParams
from rqbench.stages.denoise import DenoiseParams
from rqbench.stages.judge import JudgeParams
from rqbench.stages.rerank import RerankParams
from rqbench.stages.score import ScoreParams

if TYPE_CHECKING:
    from rqbench.data.dataset import Dataset
    from rqbench.suite import Suite, Variant


class RocketQASteps:
    """Planner methods for re-rankers and RocketQA's training data; see the module docstring."""

    suite: Suite
    _reranking: list[str]

    if TYPE_CHECKING:
        def add(self, node: Node) -> Node: ...
        def backend(self, variant: Variant, override: dict[str, Any] | None = None) -> Any: ...
        def run_of(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
                   prefix: str) -> tuple[Node, list[Step]]: ...
        def checkpoint_of(self, variant: Variant) -> tuple[Input, list[Step]] | None: ...
        def _check_split(self, dataset: Dataset, split: str, line: int | None, need_qrels: bool) -> None: ...
        def dataset(self, spec: str | dict[str, Any], line: int | None = None) -> Dataset: ...

    def _rerank(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
                prefix: str) -> tuple[Node, list[Step]]:
        """A re-ranker's run: the `run_of` variant's run (same split, its own depth), its top-k scored by the
        re-ranker (a `score` node, from the trained checkpoint if the variant trains), then re-ordered."""
        backend = self.backend(variant)
        where = self.suite.where(variant.line)
        if "reranker" not in capabilities(type(backend)):
            raise RqbenchError(f"variant '{variant.name}' has [variants.rerank] but backend '{variant.backend}' "
                               "cannot re-rank", where)
        table = variant.rerank or {}
        k = int(table["depth"])
        source = self.suite.reference(table["run_of"], variant)
        if source.name in self._reranking:  # only a re-ranker's run depends on its source's run, not its training
            cycle = " -> ".join([*self._reranking[self._reranking.index(source.name):], variant.name, source.name])
            raise RqbenchError(f"variants re-rank each other in a cycle: {cycle}", where)
        self._reranking.append(variant.name)
        try:
            run, steps = self.run_of(source, dataset, split, max(depth, source.depth), exclude, prefix + "rerank_of:")
        finally:
            self._reranking.pop()
        score, score_steps = self._score_node(variant, run, dataset, split, k, prefix)
        rerank = self.add(Node(STAGE_KINDS["rerank"], stage_params(RerankParams, where, split=split, depth=k),
                               {"run": Input(run), "scores": Input(score)}, dataset, label=f"{variant.name} ({split})"))
        return rerank, [*steps, *score_steps, (prefix + "rerank", rerank)]

    def _score_node(self, variant: Variant, run: Node, dataset: Dataset, split: str, k: int,
                    prefix: str) -> tuple[Node, list[Step]]:
        """A `score` node: re-ranker `variant` (its trained checkpoint if it trains) on `run`'s top-`k`; for a
        calibrated fusion (a teacher that is a role, not a model), a `judge` node reading its P(relevant)."""
        backend = self.backend(variant)
        where = self.suite.where(variant.line)
        if variant.fuse is not None:
            return self._judge_node(variant, run, dataset, split, k, prefix)
        if "reranker" not in capabilities(type(backend)):
            raise RqbenchError(f"variant '{variant.name}' (backend '{variant.backend}') cannot score pairs: "
                               "name a cross-encoder variant or a calibrated fusion", where)
        checkpoint = self.checkpoint_of(variant)
        steps = [(prefix + role, node) for role, node in checkpoint[1]] if checkpoint else []
        hashed = params_dict(backend.params, include_unhashed=False)
        describe = backend.describe()
        if checkpoint is not None:
            hashed["model"] = "<the model input>"  # named by the training artifact's hash
            describe = {k_: v for k_, v in describe.items() if k_ != "model"}
        elif Path(str(hashed.get("model", ""))).exists():
            hashed["model"] = "<local folder: see describe>"
        spec = {"name": variant.backend, "params": params_dict(backend.params), "where": where}
        model_edge = checkpoint[0] if checkpoint else None
        score = self.add(Node(STAGE_KINDS["score"], stage_params(
            ScoreParams, where, split=split, depth=k, backend=variant.backend, backend_params=hashed,
            describe=describe, corpus=dataset.fingerprint("corpus"), queries=dataset.fingerprint(f"queries/{split}")),
            {"run": Input(run), **({"model": model_edge} if model_edge else {})}, dataset,
            {"backend": spec, "model": model_edge}, f"{variant.name} ({split})", resumable=True))
        return score, [*steps, (prefix + "score", score)]

    def _judge_node(self, variant: Variant, run: Node, dataset: Dataset, split: str, k: int,
                    prefix: str) -> tuple[Node, list[Step]]:
        """A `judge` node: calibrated fusion `variant`'s run on `split` gives P(relevant) of `run`'s top-`k`."""
        where = self.suite.where(variant.line)
        method = self.backend(variant).params.method
        if method != "calibrated":
            raise RqbenchError(f"variant '{variant.name}' fuses with method '{method}', whose scores are not "
                               "probabilities: a teacher fusion needs method = 'calibrated'", where)
        teacher, steps = self.run_of(variant, dataset, split, variant.depth, False, prefix + "teacher:")
        node = self.add(Node(STAGE_KINDS["judge"], stage_params(JudgeParams, where, split=split, depth=k),
                             {"run": Input(run), "teacher": Input(teacher)}, dataset,
                             runtime={"teacher": variant.name}, label=f"{variant.name} ({split})"))
        return node, [*steps, (prefix + "judge", node)]

    def _denoise(self, variant: Variant, table: dict[str, Any], dataset: Dataset, split: str,
                 fps: dict[str, str], where: str) -> tuple[Node, list[Step]]:
        """RocketQA step 3: groups whose negatives are scanned from `mine_from`'s run and, with
        `denoise_with` (a re-ranker variant), filtered by its scores; without it the undenoised arm."""
        if table.get("mine_from") is None:
            raise RqbenchError("train.negatives_per_positive / denoise_with need train.mine_from (the retriever "
                               "whose run is scanned for negatives)", where)
        fill_depth = whole(table, "mine_depth", int, 1000, where, minimum=1)
        scan_depth = whole(table, "scan_depth", int, 50, where, minimum=1)
        per_positive = whole(table, "negatives_per_positive", int, 4, where, minimum=1)
        threshold = ratio(table, "denoise_threshold", 0.1, where)
        if scan_depth > fill_depth:
            raise RqbenchError(f"train.scan_depth ({scan_depth}) must not exceed train.mine_depth ({fill_depth})",
                               where)
        source = self.suite.reference(table["mine_from"], variant)
        run, steps = self.run_of(source, dataset, split, fill_depth, False, "mine_from:")
        inputs: dict[str, Input] = {"run": Input(run)}
        denoise = table.get("denoise_with") is not None
        if denoise:
            scorer = self.suite.reference(table["denoise_with"], variant)
            score, score_steps = self._score_node(scorer, run, dataset, split, scan_depth, "denoise_with:")
            inputs["scores"] = Input(score)
            steps += score_steps
        node = self.add(Node(STAGE_KINDS["denoise"], stage_params(
            DenoiseParams, where, split=split, scan_depth=scan_depth, threshold=threshold, per_positive=per_positive,
            fill_depth=fill_depth, denoise=denoise, seed=seed_of(variant, self.suite), **fps),
            inputs, dataset, label=variant.name))
        return node, [*steps, ("denoise", node)]

    def _users_of(self, variant: Variant) -> list[Variant]:
        """`variant` and every variant whose results rest on its model: those that reference it (mine from
        it, start from it, re-rank or fuse its run, denoise or label with it), transitively."""
        from rqbench.suite.claims import references_of

        users, todo = [variant], [variant]
        while todo:
            current = todo.pop()
            for other in self.suite.variants:
                refs = [name for _, _, name in references_of(other)]
                if other not in users and any(self.suite.reference(ref, other) is current
                                              for ref in refs if isinstance(ref, str)):
                    users.append(other)
                    todo.append(other)
        return users

    def _augment(self, variant: Variant, table: dict[str, Any], dataset: Dataset, groups: Node,
                 where: str) -> tuple[Node, list[Step]]:
        """RocketQA step 4: `groups` plus pseudo-labelled groups of `augment_split`, from `augment_from`'s run
        scored by `augment_with`."""
        for key in ("augment_with", "augment_from"):
            if table.get(key) is None:
                raise RqbenchError("train.augment_with (the re-ranker that labels) and train.augment_from (the "
                                   "retriever whose top-k it labels) go together", where)
        split = whole(table, "augment_split", str, "unlabeled", where)
        self._check_split(dataset, split, variant.line, need_qrels=False)
        users = self._users_of(variant)
        evaluated = [(ev.name, user.name) for ev in self.suite.evaluations for user in users
                     if ev.split == split and (user.evaluate_on is None or ev.name in user.evaluate_on)
                     and self.dataset(ev.dataset, ev.line_of_dataset()) is dataset]
        if evaluated:
            name, user = evaluated[0]
            whose = "" if user == variant.name else f" (through '{user}', which uses this model)"
            raise RqbenchError(f"train.augment_split '{split}' is evaluation set '{name}'{whose}: training on its "
                               "pseudo-labelled queries would leak them; augment another split", where)
        depth = whole(table, "augment_depth", int, 50, where, minimum=1)
        negatives = whole(table, "augment_negatives", int, 4, where, minimum=0)
        positive = ratio(table, "augment_positive", 0.9, where)
        negative = ratio(table, "augment_negative", 0.1, where)
        source = self.suite.reference(table["augment_from"], variant)
        run, steps = self.run_of(source, dataset, split, depth, False, "augment_from:")
        scorer = self.suite.reference(table["augment_with"], variant)
        score, score_steps = self._score_node(scorer, run, dataset, split, depth, "augment_with:")
        settings = {"depth": depth, "positive_threshold": positive, "negative_threshold": negative,
                    "negatives": negatives}
        node = self._augment_node(variant, dataset, split, settings, groups, run, score, where)
        steps = [*steps, *score_steps, ("augment", node)]
        if table.get("augment_audit_split") is not None:  # the same labeller on a labelled split nobody trains on
            steps += self._labeller_audit(variant, table, dataset, split, settings, groups, where)
        return node, steps

    def _augment_node(self, variant: Variant, dataset: Dataset, split: str, settings: dict[str, Any], groups: Node,
                      run: Node, score: Node, where: str, label: str = "") -> Node:
        return self.add(Node(STAGE_KINDS["augment"], stage_params(
            AugmentParams, where, split=split, **settings, corpus=dataset.fingerprint("corpus"),
            queries=dataset.fingerprint(f"queries/{split}"),
            qrels=dataset.fingerprint(f"qrels/{split}") if split in dataset.qrels else ""),
            {"groups": Input(groups), "run": Input(run), "scores": Input(score)}, dataset,
            label=label or variant.name))

    def _labeller_audit(self, variant: Variant, table: dict[str, Any], dataset: Dataset, split: str,
                        settings: dict[str, Any], groups: Node, where: str) -> list[Step]:
        """`train.augment_audit_split`: the labeller run as for `augment_split`, on a split whose qrels are
        withheld from every model involved, so the audit can measure its precision and coverage; its groups
        are not trained on. The split must have qrels, differ from `augment_split`, and share no query with a
        split that this variant or any model behind the audit trains on (the labeller, the retriever whose
        top-k it labels, and whatever those start from or learned from; `_trained_splits`): else the precision
        and coverage would be measured on queries they learned."""
        audit_split = table["augment_audit_split"]
        if not isinstance(audit_split, str) or not audit_split.strip():
            raise RqbenchError("train.augment_audit_split must be the name of a split with qrels", where)
        if audit_split == split:
            raise RqbenchError(f"train.augment_audit_split '{audit_split}' is the augmented split itself: audit the "
                               "labeller on a held-apart labelled split", where)
        self._check_split(dataset, audit_split, variant.line, need_qrels=True)
        scorer = self.suite.reference(table["augment_with"], variant)
        source = self.suite.reference(table["augment_from"], variant)
        audited = {q.id for q in dataset.split_queries(audit_split)}
        run, steps = self.run_of(source, dataset, audit_split, settings["depth"], False, "augment_audit_from:")
        score, score_steps = self._score_node(scorer, run, dataset, audit_split, settings["depth"],
                                              "augment_audit_with:")
        own = (variant.name, str(table.get("split", "train")))  # its groups: not an input of the audit, checked too
        for who, train_split in [own, *_trained_splits([run, score], dataset)]:
            if train_split in dataset.queries:
                shared = audited & {q.id for q in dataset.split_queries(train_split)}
                if shared:
                    raise RqbenchError(f"train.augment_audit_split '{audit_split}' shares {len(shared)} queries with "
                                       f"split '{train_split}', which '{who}' trains on (e.g. '{min(shared)}'): "
                                       "the labeller would be audited on queries it learned from", where)
        node = self._augment_node(variant, dataset, audit_split, settings, groups, run, score, where,
                                  label=f"{variant.name} (labeller audit: {audit_split})")
        return [*steps, *score_steps, ("augment_audit", node)]


_TRAINING_DATA_KINDS = ("groups", "mine", "denoise", "augment")  # the stages that choose what a model trains on


def _trained_splits(roots: list[Node], dataset: Dataset) -> list[tuple[str, str]]:
    """(who, split) for every split of `dataset` any model behind `roots` trained on, however far back: the
    training data of each train node, of the models its data was mined or labelled with, of the model it
    starts from, and so on."""
    found: dict[tuple[str, str], None] = {}
    seen: set[tuple[int, bool]] = set()
    stack = [(node, False) for node in roots]
    while stack:
        node, under_training = stack.pop()
        if (id(node), under_training) in seen:
            continue
        seen.add((id(node), under_training))
        under_training = under_training or node.kind.name == "train"
        if under_training and node.kind.name in _TRAINING_DATA_KINDS and node.dataset is dataset:
            found[(node.label, str(node.params.split))] = None
        stack += [(edge.node, under_training) for edge in node.inputs.values()]
    return list(found)
