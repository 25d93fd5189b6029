"""The joint task: RocketQAv2's retriever and re-ranker trained together by dynamic listwise distillation
(Ren et al., EMNLP 2021, arXiv 2110.07367; the official `joint_encoder.py`).

Each micro-batch holds `batch_size` lists per process, each a query with K = 1 + `hard_negatives_per_query`
candidates: its positive first, then its negatives (`BatchPlan` keeps a group's list whole when it shuffles
the groups). The retriever (a `DualEncoder`, warm-started from `model`) scores the list's candidates
s_k = `scale` * q . p_k (only the list's own candidates: no in-batch or cross-batch negatives, as the
official code); the re-ranker (a `CrossEncoder`, warm-started from `reranker_model`) gives each (query,
candidate) pair one logit. The loss is `rqbench.training.losses.joint.joint_loss` (the re-ranker's listwise
cross-entropy + KL(P_reranker || P_retriever) over every list element), this process's mean divided by the
world size (every process holds as many lists), so that the loop's summed gradients average over processes.
By default the KL term trains only the retriever, as in the official code; `kl_reaches_reranker` lets it
reach the re-ranker too.

One train run writes both models: ``retriever/`` (`DualEncoder.save`, read by the dense backend) and
``reranker/`` (`CrossEncoder.save`, read by the cross-encoder backend). The lists: one positive per query
per epoch and its negatives drawn afresh each epoch from the group's candidate pool (`negative_sampling =
"random"`), as for the other tasks, or the paper's way, each list built once: RocketQAv2's hybrid lists
(`rqbench.training.hybrid`) taken whole with `negative_sampling = "top"` (a suite's `sample = "top"`).

Memory: `grad_accumulation` is exact for this task (every list's loss is its own, so equal micro-batches of
lists average to the large batch's gradient; contrast the dual encoder's cross-batch negatives, whose pool it
does not enlarge), and `gradient_checkpointing` is exact too (dropout's random stream is replayed; tested).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rqbench.errors import RqbenchError
from rqbench.models.cross_encoder import CrossEncoder
from rqbench.models.dual_encoder import DualEncoder
from rqbench.training.batches import BatchPlan, LocalBatch
from rqbench.training.config import TrainConfig
from rqbench.training.distributed import DistEnv, to_device
from rqbench.training.losses.joint import JointLoss, joint_loss
from rqbench.training.tasks.cross_encoder import group_pairs
from rqbench.training.tasks.groups_task import GroupsTask

NEEDS_RERANKER = "joint training needs reranker_model: the cross-encoder to warm-start the re-ranker from"
NEEDS_LISTS = "joint training needs lists: set hard_negatives_per_query >= 1 (a list is 1 positive + that many)"


class JointModel(nn.Module):
    """The two models of joint training as one module (one optimizer, one checkpoint). With `frozen_reranker`
    (static distillation) the re-ranker's weights take no gradient and it stays in eval mode (no dropout), so
    its scores are those a precomputation would give."""

    def __init__(self, retriever: DualEncoder, reranker: CrossEncoder, frozen_reranker: bool = False):
        super().__init__()
        self.retriever = retriever
        self.reranker = reranker
        self.frozen_reranker = frozen_reranker
        if frozen_reranker:
            reranker.requires_grad_(False)

    def train(self, mode: bool = True) -> JointModel:
        super().train(mode)
        if self.frozen_reranker:
            self.reranker.eval()
        return self


class JointTask(GroupsTask):
    name = "joint"
    outputs = ("retriever", "reranker")

    def __init__(self, groups_path: str | Path, config: TrainConfig) -> None:
        super().__init__(groups_path, config)
        self._parts: dict[str, float] = {}  # this step's loss terms so far (`take_loss_parts`)

    def plan(self, world_size: int) -> BatchPlan:
        if not self.config.reranker_model:
            raise RqbenchError(NEEDS_RERANKER)
        if self.config.hard_negatives_per_query < 1:
            raise RqbenchError(NEEDS_LISTS)
        return self.batch_plan(world_size)

    def summary(self) -> str:
        k = 1 + self.config.hard_negatives_per_query
        routing = "KL trains both" if self.config.kl_reaches_reranker else "KL trains the retriever"
        kind = {"listwise": "joint listwise distillation", "pointwise": "joint distillation, pointwise re-ranker",
                "frozen": "static distillation from a frozen re-ranker"}[self.config.reranker_loss]
        return f"{len(self.groups)} lists of {k}, {kind} ({routing})"

    def load_model(self, init: Path | None) -> JointModel:
        c = self.config
        frozen = c.reranker_loss == "frozen"
        if init is not None:
            return JointModel(DualEncoder.load(str(init / "retriever")),
                              CrossEncoder.load(str(init / "reranker"), max_length=c.max_length), frozen)
        retriever = DualEncoder.for_training(c.model, c)
        reranker = CrossEncoder.load(c.reranker_model, max_length=c.max_length,
                                     pooling=c.reranker_pooling or None)
        return JointModel(retriever, reranker, frozen)

    def list_scores(self, model: JointModel, batch: LocalBatch, env: DistEnv) -> tuple[torch.Tensor, torch.Tensor]:
        """[lists, K] retriever scores and re-ranker logits of the batch's lists (positive first)."""
        k = 1 + self.config.hard_negatives_per_query
        pairs, _ = group_pairs(batch, k - 1)
        n = len(batch.queries)
        listed = [x for i in range(n) for x in (batch.pool[batch.pos_index[i]],
                                                 *batch.pool[n + i * (k - 1):n + (i + 1) * (k - 1)])]
        retriever = model.retriever
        q = retriever(to_device(retriever.tokenize(batch.queries, "query"), env.device), "query")
        p = retriever(to_device(retriever.tokenize(self.passage_strings(listed), "passage"), env.device), "passage")
        dtype = torch.promote_types(q.dtype, torch.float32)
        with torch.autocast(device_type=env.device.type, enabled=False):
            scores = self.config.scale * (q.to(dtype).unsqueeze(1) * p.to(dtype).reshape(n, k, -1)).sum(-1)
        pairs_in = to_device(model.reranker.tokenize(pairs), env.device)
        if model.frozen_reranker:  # static distillation: fixed scores, no graph
            with torch.no_grad():
                logits = model.reranker(pairs_in).float().reshape(n, k)
        else:
            logits = model.reranker(pairs_in).float().reshape(n, k)
        return scores, logits

    def joint(self, model: JointModel, batch: LocalBatch, env: DistEnv) -> JointLoss:
        scores, logits = self.list_scores(model, batch, env)
        return joint_loss(scores, logits, self.config.kl_reaches_reranker, self.config.reranker_loss)

    def loss(self, model: JointModel, batch: LocalBatch, env: DistEnv) -> torch.Tensor:
        parts = self.joint(model, batch, env)
        share = env.world_size * self.config.grad_accumulation  # as the loop sums this step's total
        for name, value in (("reranker_loss", parts.reranker), ("kl_loss", parts.kl)):
            self._parts[name] = self._parts.get(name, 0.0) + float(value.detach()) / share
        return parts.total / env.world_size

    def take_loss_parts(self) -> dict[str, float]:
        """This process's share of the step's two terms (the loop sums them over processes and logs them, so
        a run shows whether the re-ranker's own loss and the KL both fall); cleared for the next step."""
        parts, self._parts = self._parts, {}
        return parts

    def save(self, model: JointModel, folder: Path) -> None:
        model.retriever.save(folder / "retriever")
        model.reranker.save(folder / "reranker")
