"""The planner's fusion step: a `[variants.fuse]` variant's run is a `fuse` node over its members' runs on
the same split (and, for the calibrated method, over their runs on `fit_split` too), as a mixin of the
planner (`rqbench.plan._Planner`), which supplies `suite`, `add`, `backend`, `run_of` and `check_split`.
References resolve per seed (`Suite.reference`), so a fusion of seeded arms is one fused run per seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rqbench.backend import capabilities
from rqbench.errors import RqbenchError
from rqbench.plan.values import Step, stage_params
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.fuse import FuseParams

if TYPE_CHECKING:
    from rqbench.data.dataset import Dataset
    from rqbench.suite import Suite, Variant


class FusionSteps:
    """Planner method for fusion variants; see the module docstring."""

    suite: Suite
    _fusing: list[str]

    if TYPE_CHECKING:
        def add(self, node: Node) -> Node: ...
        def backend(self, variant: Variant, override: dict[str, Any] | None = None) -> Any: ...
        def run_of(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
                   prefix: str) -> tuple[Node, list[Step]]: ...
        def check_split(self, dataset: Dataset, split: str, line: int | None, need_qrels: bool) -> None: ...

    def _fuse(self, variant: Variant, dataset: Dataset, split: str, depth: int, exclude: bool,
              prefix: str) -> tuple[Node, list[Step]]:
        """A fusion's run: each member's run on `split` (taken to `fuse.depth`), fused to `depth`."""
        backend = self.backend(variant)
        where = self.suite.where(variant.line)
        if "fuser" not in capabilities(type(backend)):
            raise RqbenchError(f"variant '{variant.name}' has [variants.fuse] but backend '{variant.backend}' "
                               "cannot fuse runs (use backend = \"fusion\")", where)
        table = variant.fuse or {}
        members = [self.suite.reference(name, variant) for name in table["runs"]]
        member_depth = int(table.get("depth") or depth)
        p = backend.params
        if len(members) < 2 and p.method != "calibrated":
            raise RqbenchError(f"fuse.runs names one run: method '{p.method}' needs 2 or more (one run is for "
                               "method 'calibrated': Platt scaling of that run's scores)", where)
        if p.weights and len(p.weights) != len(members):
            raise RqbenchError(f"params.weights has {len(p.weights)} weights for the {len(members)} runs of "
                               "fuse.runs: give one per run", where)
        if variant.name in self._fusing:
            cycle = " -> ".join([*self._fusing[self._fusing.index(variant.name):], variant.name])
            raise RqbenchError(f"variants fuse each other in a cycle: {cycle}", where)
        self._fusing.append(variant.name)
        try:
            inputs, steps = self._member_runs(members, dataset, split, member_depth, exclude, prefix, "run")
            fit_qrels = ""
            if p.method == "calibrated":
                if p.fit_split == split:
                    raise RqbenchError(f"params.fit_split '{split}' is the split this fusion is evaluated on: fit "
                                       "the calibration on held-apart labelled queries", where)
                self.check_split(dataset, p.fit_split, variant.line, need_qrels=True)
                fit_inputs, fit_steps = self._member_runs(members, dataset, p.fit_split, member_depth, exclude,
                                                          prefix + "fit:", "fit")
                inputs.update(fit_inputs)
                steps += fit_steps
                fit_qrels = dataset.fingerprint(f"qrels/{p.fit_split}")
        finally:
            self._fusing.pop()
        params = stage_params(FuseParams, where, split=split, method=p.method, members=len(members),
                              depth=depth, k=p.k, weights=p.weights, normalisation=p.normalisation,
                              fit_split=p.fit_split, fit_qrels=fit_qrels, rel=p.rel)
        node = self.add(Node(STAGE_KINDS["fuse"], params, inputs, dataset,
                             runtime={"names": [m.name for m in members]}, label=f"{variant.name} ({split})"))
        return node, [*steps, (prefix + "fuse", node)]

    def _member_runs(self, members: list[Variant], dataset: Dataset, split: str, depth: int, exclude: bool,
                     prefix: str, role: str) -> tuple[dict[str, Input], list[Step]]:
        inputs: dict[str, Input] = {}
        steps: list[Step] = []
        for i, member in enumerate(members):
            run, run_steps = self.run_of(member, dataset, split, max(depth, 1), exclude, f"{prefix}fuse_of:")
            inputs[f"{role}{i}"] = Input(run)
            steps += run_steps
        return inputs, steps
