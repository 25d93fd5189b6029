"""RocketQA step 3: groups whose negatives are scanned from `mine_from`'s run and, with `denoise_with` (a
re-ranker variant or a calibrated fusion), kept only where its P(relevant) is below `denoise_threshold`
(`rqbench.stages.denoise`); without `denoise_with`, the undenoised arm (same scan, no filter)."""

from __future__ import annotations

from rqbench.errors import RqbenchError
from rqbench.plan.steps.base import Follows, Planning, StepInput, TrainingStep
from rqbench.plan.values import Step, ratio, seed_of, stage_params, whole
from rqbench.stages import STAGE_KINDS, Input, Node
from rqbench.stages.denoise import DenoiseParams


def plan(p: Planning, s: StepInput) -> tuple[Node, list[Step]]:
    table, where = s.table, s.where
    if table.get("mine_from") is None:
        raise RqbenchError("train.negatives_per_positive / denoise_with need train.mine_from (the retriever whose "
                           "run is scanned for negatives)", where)
    fill_depth = whole(table, "mine_depth", int, 1000, where, minimum=1)
    scan_depth = whole(table, "scan_depth", int, 50, where, minimum=1)
    per_positive = whole(table, "negatives_per_positive", int, 4, where, minimum=1)
    threshold = ratio(table, "denoise_threshold", 0.1, where)
    if scan_depth > fill_depth:
        raise RqbenchError(f"train.scan_depth ({scan_depth}) must not exceed train.mine_depth ({fill_depth})", where)
    source = p.suite.reference(table["mine_from"], s.variant)
    run, steps = p.run_of(source, s.dataset, s.split, fill_depth, False, "mine_from:")
    inputs: dict[str, Input] = {"run": Input(run)}
    denoise = table.get("denoise_with") is not None
    if denoise:
        scorer = p.suite.reference(table["denoise_with"], s.variant)
        score, score_steps = p.score_of(scorer, run, s.dataset, s.split, scan_depth, "denoise_with:")
        inputs["scores"] = Input(score)
        steps += score_steps
    node = p.add(Node(STAGE_KINDS["denoise"], stage_params(
        DenoiseParams, where, split=s.split, scan_depth=scan_depth, threshold=threshold, per_positive=per_positive,
        fill_depth=fill_depth, denoise=denoise, seed=seed_of(s.variant, p.suite), **s.fps),
        inputs, s.dataset, label=s.variant.name))
    return node, [*steps, ("denoise", node)]


STEP = TrainingStep(
    kind="denoise", position="source",
    keys=("mine_from", "mine_depth", "denoise_with", "scan_depth", "denoise_threshold", "negatives_per_positive"),
    follows=(Follows("mine_from", "run", "run"), Follows("denoise_with", "scores", "scores")),
    applies=lambda table: "negatives_per_positive" in table or table.get("denoise_with") is not None,
    plan=plan, doc="RocketQA's denoised hard negatives: a run's top ranks filtered by a teacher's P(relevant)")
