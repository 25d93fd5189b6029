"""The planner's re-rankers and teachers: a re-ranker's run (`score` then `rerank`) and a teacher's scores of
a run (`score_of`: a cross-encoder's `score` node or a calibrated fusion's `judge` node, which the training
steps' `denoise_with` / `augment_with` and the negatives audit follow), as a mixin of the planner
(`rqbench.plan._Planner`), which supplies `suite`, `add`, `backend`, `run_of` and `checkpoint_of`.
References between variants resolve per seed (`Suite.reference`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rqbench.backend import capabilities, params_dict
from rqbench.errors import RqbenchError
from rqbench.plan.values import Step, stage_params
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.judge import JudgeParams
from rqbench.stages.rerank import RerankParams
from rqbench.stages.score import ScoreParams

if TYPE_CHECKING:
    from rqbench.data.dataset import Dataset
    from rqbench.suite import Suite, Variant


class RerankSteps:
    """Planner methods for re-rankers and teachers' scores; see the module docstring."""

    suite: Suite
    _reranking: list[str]

    if TYPE_CHECKING:
        def add(self, node: Node) -> Node: ...
        def backend(self, variant: Variant, override: dict[str, Any] | None = None) -> Any: ...
        def run_of(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
                   prefix: str) -> tuple[Node, list[Step]]: ...
        def checkpoint_of(self, variant: Variant) -> tuple[Input, list[Step]] | None: ...
        def check_split(self, dataset: Dataset, split: str, line: int | None, need_qrels: bool) -> None: ...
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
        score, score_steps = self.score_of(variant, run, dataset, split, k, prefix)
        rerank = self.add(Node(STAGE_KINDS["rerank"], stage_params(RerankParams, where, split=split, depth=k),
                               {"run": Input(run), "scores": Input(score)}, dataset, label=f"{variant.name} ({split})"))
        return rerank, [*steps, *score_steps, (prefix + "rerank", rerank)]

    def score_of(self, variant: Variant, run: Node, dataset: Dataset, split: str, k: int,
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
