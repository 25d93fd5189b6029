"""Suite -> one graph of stage nodes, validated before any work.

Every variant becomes, per evaluation set, a chain ending in `evaluate`; a variant that trains gets its
training data's steps -> `train` first (declared in `rqbench.plan.steps`: groups from qrels, mined, denoised,
hybrid lists, augmented; the planner runs whichever a train table asks for, knowing none by name), and its
index is built from the trained checkpoint. References between variants (`train.mine_from`,
`train.init_from`) resolve to the referenced variant's *artifacts* — its trained checkpoint, or its run on
the training split — so hashes follow artifacts and the same reference in two suites reuses the same work.
Nodes with equal hashes are one node: shared work is built once. Unknown references, cycles, inputs of the
wrong type, unknown splits, bad measures and bad parameters are one-line errors naming the suite file and
line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rqbench.backend import build_params, capabilities, load_backend_class, params_dict, split_params
from rqbench.data import load_dataset
from rqbench.data.dataset import Dataset
from rqbench.data.pending import PendingDataset
from rqbench.errors import DataUnavailable, RqbenchError
from rqbench.measures import parse_measures
from rqbench.plan import steps as declared
from rqbench.plan.encode import EncodeSteps
from rqbench.plan.fusion import FusionSteps
from rqbench.plan.models import ModelSources, served_edge, served_part
from rqbench.plan.rerank import RerankSteps
from rqbench.plan.steps import StepInput
from rqbench.plan.train_settings import trainer_settings
from rqbench.plan.values import Step, stage_params, whole
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.audit import AuditParams
from rqbench.stages.evaluate import EvaluateParams
from rqbench.stages.import_run import ImportParams
from rqbench.stages.index import IndexParams
from rqbench.stages.retrieve import RetrieveParams
from rqbench.stages.train import TrainParams
from rqbench.suite import EvalSet, Suite, Variant
from rqbench.suite.audit import NegativesAudit


@dataclass
class PlannedEvaluation:
    """One (variant, evaluation set): the chain of stages that produces its record."""

    variant: Variant
    evaluation: EvalSet
    dataset: Dataset
    steps: list[Step]  # every node the record depends on, inputs first, ending with the run and evaluate
    run: Node
    evaluate: Node
    backend: Any  # the variant's backend instance (params after defaults, describe)


@dataclass
class Plan:
    suite: Suite
    nodes: dict[str, Node] = field(default_factory=dict)  # hash -> node, in dependency order
    evaluations: list[PlannedEvaluation] = field(default_factory=list)
    datasets: dict[str, Dataset] = field(default_factory=dict)



def plan_suite(suite: Suite, data_root: Path | None, only: list[str] | None = None,
               pending_data: bool = False) -> Plan:
    """The validated graph of `suite` (only the variants in `only`, and what they reference). With
    `pending_data` (`rqbench plan`), a dataset that cannot be read here is planned as a `PendingDataset`
    (provisional hashes) instead of stopping with its `DataUnavailable` error."""
    return _Planner(suite, data_root, pending_data).plan(only)


def fill_places(value: Any, places: dict[str, str]) -> Any:
    """`{data_root}` / `{suite_dir}` in a string parameter, filled in."""
    if isinstance(value, str):
        for key, text in places.items():
            value = value.replace("{" + key + "}", text)
    return value


class _Planner(RerankSteps, FusionSteps, ModelSources, EncodeSteps):
    def __init__(self, suite: Suite, data_root: Path | None, pending_data: bool = False):
        self.suite = suite
        self.data_root = data_root
        self.pending_data = pending_data
        self.graph = Plan(suite)
        self.places = {"data_root": str(data_root or ""), "suite_dir": str(suite.path.parent.resolve())}
        self._backends: dict[str, Any] = {}
        self._checkpoints: dict[str, tuple[Input, list[Step]] | None] = {}
        self._resolving: list[str] = []
        self._reranking: list[str] = []  # re-rankers whose source run is being planned
        self._fusing: list[str] = []  # fusions whose member runs are being planned

    # ---- entry ------------------------------------------------------------------------------------

    def plan(self, only: list[str] | None) -> Plan:
        suite = self.suite
        variants = suite.select(only) if only else suite.variants
        for v in suite.variants:  # every backend's params are validated, even those not run now
            self.backend(v)
        for ev in suite.evaluations:
            dataset = self.dataset(ev.dataset, ev.line_of_dataset())
            self.check_split(dataset, ev.split, ev.line_of_split(), need_qrels=True)
            measures = [str(m) for m in parse_measures(ev.measures, where=suite.where(ev.line))]
            where = suite.where(ev.line)
            for v in variants:
                if v.evaluate_on is not None and ev.name not in v.evaluate_on:
                    continue
                run, steps = self.run_of(v, dataset, ev.split, v.depth, ev.exclude_query_id, "")
                evaluate = self.add(Node(STAGE_KINDS["evaluate"], stage_params(
                    EvaluateParams, where, split=ev.split, measures=measures,
                    qrels=dataset.fingerprint(f"qrels/{ev.split}")), {"run": Input(run)}, dataset,
                    label=f"{v.name} @{ev.name}"))
                self.graph.evaluations.append(PlannedEvaluation(
                    v, ev, dataset, _dedupe([*steps, ("evaluate", evaluate)]), run, evaluate, self.backend(v)))
        if suite.negatives_audit is not None:
            self._plan_negatives_audit(suite.negatives_audit)
        return self.graph

    def _plan_negatives_audit(self, audit: NegativesAudit) -> None:
        """An `audit` node for each miner's run on the audited set, with its teachers' scores of the run's
        top-`depth` (the same seed's teacher for an arm), added to the miner's record as "negatives_audit"."""
        where = self.suite.where(audit.line)
        for planned in self.graph.evaluations:
            arm = planned.variant.arm_name
            if planned.evaluation.name != audit.evaluation or arm in audit.teachers \
                    or (audit.miners is not None and arm not in audit.miners):
                continue
            dataset, split = planned.dataset, planned.evaluation.split
            inputs: dict[str, Input] = {"run": Input(planned.run)}
            steps: list[Step] = []
            for i, name in enumerate(audit.teachers):
                teacher = self.suite.reference(name, planned.variant)
                scores, score_steps = self.score_of(teacher, planned.run, dataset, split, audit.depth,
                                                       "audit:")
                inputs[f"teacher{i}"] = Input(scores)
                steps += score_steps
            node = self.add(Node(STAGE_KINDS["audit"], stage_params(
                AuditParams, where, split=split, qrels=dataset.fingerprint(f"qrels/{split}"), depth=audit.depth,
                keep=audit.keep, rel=audit.rel, seed=audit.seed, threshold=audit.threshold,
                teachers=list(audit.teachers)), inputs, dataset, label=f"{planned.variant.name} @{audit.evaluation}"))
            planned.steps[:] = _dedupe([*planned.steps, *steps, ("negatives_audit", node)])

    def add(self, node: Node) -> Node:
        """The planned node with this hash: the existing one if another variant asked for it first."""
        existing = self.graph.nodes.get(node.hash)
        if existing is not None:
            return existing
        for role, edge in node.inputs.items():  # typed inputs (references are checked before, with a line)
            want, _ = node.kind.input_type(role)
            if edge.node.output != want:
                raise RqbenchError(f"stage '{node.kind.name}' of '{node.label}': input '{role}' must be a {want}, "
                                   f"'{edge.node.label}' gives a {edge.node.output}", self.suite.path)
        self.graph.nodes[node.hash] = node
        return node

    # ---- datasets and backends --------------------------------------------------------------------

    def dataset(self, spec: str | dict[str, Any], line: int | None = None) -> Dataset:
        key = repr(sorted(spec.items())) if isinstance(spec, dict) else spec
        if key not in self.graph.datasets:
            try:
                dataset = load_dataset(self._dataset_spec(spec), self.data_root, where=self.suite.where(line))
            except DataUnavailable as exc:
                if not self.pending_data or not isinstance(spec, str):
                    raise
                self.graph.datasets[key] = PendingDataset(spec, spec, exc.problem)
                return self.graph.datasets[key]
            if self.suite.splits and spec == self.suite.dataset:  # [[splits]] derive from the suite's dataset
                from rqbench.data.derived import derive_splits

                derive_splits(dataset, self.suite.splits, str(self.suite.path))
            self.graph.datasets[key] = dataset
        return self.graph.datasets[key]

    def _dataset_spec(self, spec: str | dict[str, Any]) -> str | dict[str, Any]:
        """Paths in a suite are relative to the suite file; short names go to the data root."""
        if isinstance(spec, dict):
            return dict(spec)
        candidate = self.suite.path.parent / spec
        return str(candidate) if ("/" in spec or spec.startswith(".")) and candidate.exists() else spec

    def check_split(self, dataset: Dataset, split: str, line: int | None, need_qrels: bool) -> None:
        have = dataset.qrels if need_qrels else dataset.queries
        if split not in dataset.queries or split not in have:
            from rqbench.errors import did_you_mean

            what = "queries and qrels" if need_qrels else "queries"
            raise RqbenchError(f"dataset '{dataset.name}' has no {what} for split '{split}'"
                               + did_you_mean(split, sorted(set(dataset.queries) & set(have))),
                               self.suite.path, line)

    def backend(self, variant: Variant, override: dict[str, Any] | None = None) -> Any:
        """The variant's backend instance (params validated: unknown key or wrong type is one line)."""
        if override is None and variant.name in self._backends:
            return self._backends[variant.name]
        where = self.suite.where(variant.line)
        cls = load_backend_class(variant.backend, where)
        params = {k: fill_places(v, self.places) for k, v in {**variant.params, **(override or {})}.items()}
        try:
            backend = cls(build_params(cls.Params, params, where))
        except RqbenchError as exc:
            if exc.path is None:
                raise RqbenchError(exc.problem, where) from None
            raise
        if override is None:
            self._backends[variant.name] = backend
        return backend

    def users_of(self, variant: Variant) -> list[Variant]:
        """`variant` and every variant whose results rest on its model: those that reference it (mine from it,
        start from it, re-rank or fuse its run, denoise or label with it), transitively."""
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

    # ---- a variant's artifacts --------------------------------------------------------------------

    def run_of(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
               prefix: str) -> tuple[Node, list[Step]]:
        """The node producing `variant`'s run on `dataset`/`split`, and the steps that lead to it."""
        backend = self.backend(variant)
        cls = type(backend)
        where = self.suite.where(variant.line)
        self.check_split(dataset, split, variant.line, need_qrels=False)
        if variant.fuse is not None:
            return self._fuse(variant, dataset, split, depth, exclude, prefix)
        if callable(getattr(cls, "read_run", None)):  # an external run: imported, nothing to index
            path = Path(backend.params.path)
            params = stage_params(ImportParams, where, run_sha256=backend.describe()["run_sha256"],
                                   run_name=path.name, split=split, depth=depth, exclude_query_id=exclude,
                                   queries=dataset.fingerprint(f"queries/{split}"),
                                   allow_partial=bool(getattr(backend.params, "allow_partial", False)))
            node = self.add(Node(STAGE_KINDS["import"], params, dataset=dataset, runtime={"path": str(path)},
                                 label=f"{variant.name} ({split})"))
            return node, [(prefix + "import", node)]
        if variant.rerank is not None:
            return self._rerank(variant, dataset, split, depth, exclude, prefix)
        if "retriever" not in capabilities(cls):
            hint = " (give it [variants.rerank] run_of = the variant to re-rank)" \
                if "reranker" in capabilities(cls) else ""
            if "fuser" in capabilities(cls):
                hint = " (give it [variants.fuse] runs = the variants whose runs it fuses)"
            raise RqbenchError(f"variant '{variant.name}' (backend '{variant.backend}') cannot retrieve, so it "
                               "has no run" + hint, where)
        checkpoint = self.checkpoint_of(variant)
        steps: list[Step] = [(prefix + role, node) for role, node in checkpoint[1]] if checkpoint else []
        model_edge = checkpoint[0] if checkpoint else None
        index_params, search_params = split_params(backend.params)
        for key, value in [*index_params.items(), *search_params.items()]:
            # a local model folder is named by its weights' digests (in describe), not by this machine's path
            if key in ("model", "query_model") and isinstance(value, str) and Path(value).exists():
                (index_params if key in index_params else search_params)[key] = "<local folder: see describe>"
        if model_edge is not None:
            index_params["model"] = "<the model input>"  # named by the training artifact's hash
        spec = {"name": variant.backend, "params": params_dict(backend.params), "where": where}
        runtime = {"backend": spec, "model": model_edge}
        index_inputs = {"model": model_edge} if model_edge else {}
        parts = int(getattr(backend.params, "encode_parts", 0) or 0)
        if parts:  # the corpus encoded by stages of its own, shared by every index of these embeddings
            embeddings, encode_steps = self._encode(variant, backend, index_params, dataset, runtime, model_edge,
                                                    parts, where)
            index_inputs["embeddings"] = Input(embeddings)
            steps += [(prefix + role, node) for role, node in encode_steps]
        index = self.add(Node(STAGE_KINDS["index"], stage_params(
            IndexParams, where, backend=variant.backend, backend_params=index_params, describe=backend.describe(),
            corpus=dataset.fingerprint("corpus")),
            index_inputs, dataset, runtime, variant.name,
            resumable=bool(getattr(cls, "RESUMABLE_INDEX", False))))
        retrieve = self.add(Node(STAGE_KINDS["retrieve"], stage_params(
            RetrieveParams, where, split=split, depth=depth, exclude_query_id=exclude, search_params=search_params,
            queries=dataset.fingerprint(f"queries/{split}")),
            {"index": Input(index)}, dataset, runtime, f"{variant.name} ({split})"))
        return retrieve, [*steps, (prefix + "index", index), (prefix + "retrieve", retrieve)]

    def checkpoint_of(self, variant: Variant) -> tuple[Input, list[Step]] | None:
        """`variant`'s trained checkpoint (its train node's output, or the part of another variant's that its
        backend loads: `model_from`) and the steps to it; None if it has no trained model."""
        if variant.model_from is not None:
            return self._model_from(variant)
        if variant.train is None:
            return None
        if variant.name in self._resolving:
            cycle = " -> ".join([*self._resolving[self._resolving.index(variant.name):], variant.name])
            raise RqbenchError(f"variants reference each other in a cycle: {cycle}", self.suite.path,
                               variant.line)
        if variant.name not in self._checkpoints:
            self._resolving.append(variant.name)
            try:
                self._checkpoints[variant.name] = self._train(variant)
            finally:
                self._resolving.pop()
        return self._checkpoints[variant.name]

    def _training_data(self, variant: Variant, table: dict[str, Any], dataset: Dataset, split: str,
                       fps: dict[str, str], where: str) -> tuple[Node, list[Step]]:
        """The variant's training groups: every declared step's rules checked, then the first source that
        applies and every transform that applies, in `STEPS` order (`rqbench.plan.steps`)."""
        for step in declared.STEPS:
            if step.check is not None:
                step.check(table, where)
        groups: Node | None = None
        steps: list[Step] = []
        for step in declared.STEPS:
            if (step.position == "source") == (groups is None) and step.applies(table):
                groups, more = step.plan(self, StepInput(variant, table, dataset, split, fps, groups, where))
                steps += more
        assert groups is not None  # the `groups` source applies to every table
        return groups, steps

    def _train(self, variant: Variant) -> tuple[Input, list[Step]]:
        suite, table = self.suite, dict(variant.train or {})
        where = suite.where(variant.line)
        backend = self.backend(variant)
        default_task = getattr(type(backend), "TRAINING_TASK", None)
        if not default_task or "model" not in {f.name for f in dataclasses.fields(backend.params)}:
            raise RqbenchError(f"backend '{variant.backend}' has no model to train", where)
        if getattr(backend.params, "query_model", None) is not None:
            raise RqbenchError("params.query_model with [variants.train]: training writes one checkpoint for "
                               "both towers; drop query_model (or train without it)", where)
        spec = table.get("dataset", suite.dataset)
        if not isinstance(spec, str | dict) or (isinstance(spec, str) and not spec.strip()):
            raise RqbenchError(f"train.dataset must be a dataset name, path or table, got {spec!r}", where)
        dataset = self.dataset(spec, variant.line)
        split = whole(table, "split", str, "train", where)
        self.check_split(dataset, split, variant.line, need_qrels=True)
        nproc = whole(table, "nproc", int, 1, where, minimum=1)
        hard = whole(table, "hard_negatives", int, 0, where, minimum=0)
        random_negatives = whole(table, "random_negatives", int, 0, where, minimum=0)
        fps = {"corpus": dataset.fingerprint("corpus"), "queries": dataset.fingerprint(f"queries/{split}"),
               "qrels": dataset.fingerprint(f"qrels/{split}")}
        if "sample" in table and not (hard or random_negatives):
            raise RqbenchError("train.sample without hard_negatives or random_negatives: no negatives to draw",
                               where)
        groups, steps = self._training_data(variant, table, dataset, split, fps, where)
        inputs = {"groups": Input(groups)}
        base = backend.describe().get("model", {})
        if table.get("init_from") is not None:
            source = suite.reference(table["init_from"], variant)
            init = self.checkpoint_of(source)
            if init is None:
                raise RqbenchError(f"train.init_from: variant '{source.name}' has no [variants.train], so no "
                                   "checkpoint to start from", where)
            inputs["init"] = served_edge(init[0], backend, variant.backend, "train.init_from", source.name, where)
            steps = [*(("init_from:" + role, node) for role, node in init[1]), *steps]
            base = {}
        if "torchrun_args" in table:
            raise RqbenchError("train.torchrun_args: a suite trains on this machine (train.nproc processes); "
                               "for several machines use `rqbench train` with torchrun's --nnodes/--rdzv-* "
                               "options", where)
        hashed, runtime = trainer_settings(variant, backend, suite, where, nproc)
        task = whole(table, "task", str, default_task, where)
        from rqbench.training.tasks import TASKS

        if task not in TASKS:
            from rqbench.errors import did_you_mean

            raise RqbenchError(f"unknown training task '{task}'" + did_you_mean(task, TASKS), where)
        part = served_part(task, backend)
        if task == "joint" and default_task != "dual-encoder":
            raise RqbenchError("train.task = 'joint' belongs on the dense variant (the retriever it trains); a "
                               "cross-encoder variant takes the joint run's re-ranker with model_from", where)
        if part is None:
            raise RqbenchError(f"train.task = '{task}' trains no model for backend '{variant.backend}'", where)
        if table.get("reranker_from") is not None and task != "joint":
            raise RqbenchError("train.reranker_from is the joint task's re-ranker: set train.task = 'joint'", where)
        if task == "joint":
            reranker, reranker_steps = self._reranker_input(variant, table, hashed, where)
            if reranker is not None:
                inputs["reranker"] = reranker
                steps = [*reranker_steps, *steps]
        params = stage_params(TrainParams, where, task=task, nproc=nproc, trainer=hashed, base=base)
        model = fill_places(str(backend.params.model), self.places)
        train = self.add(Node(STAGE_KINDS["train"], params, inputs, dataset,
                              {"trainer": runtime, "model": model}, variant.name, resumable=True))
        return Input(train, part), [*steps, ("train", train)]


def _dedupe(steps: list[Step]) -> list[Step]:
    seen: set[str] = set()
    out = []
    for role, node in steps:
        if node.hash not in seen:
            seen.add(node.hash)
            out.append((role, node))
    return out

