"""The cross-encoder task: a re-ranker trained on (query, positive, negatives) groups (RocketQA, arXiv 2010.08191).

Owns what is specific to the cross-encoder (`rqbench.models.cross_encoder.CrossEncoder`: one sequence-
classification model with a 1-label head that reads query and passage together); the loop
(`rqbench.training.loop`) does the rest. Per micro-batch each process takes `batch_size` groups and turns
each into 1 + h (query, passage) pairs: its positive (label 1), then its h = `hard_negatives_per_query`
negatives (label 0). Every pair is tokenized as one sequence of at most `max_length` tokens (the longer
side truncated first; RocketQA uses 160 on MS MARCO). The loss (`ce_loss`) is

* ``"pointwise"`` (the default; RocketQA's re-ranker, the one that denoises its hard negatives): binary
  cross-entropy with logits over every pair, the mean over the pairs. The paper scores a pair with a
  2-class softmax over [CLS] and trains it with cross-entropy; with one logit z this is exactly that loss
  for the 2-class logits [0, z], i.e. z = logit_relevant - logit_irrelevant, and sigmoid(z) is the
  paper's P(relevant); or
* ``"listwise"``: the softmax cross-entropy of each group's 1 + h logits with the positive as the
  target, the mean over the groups (RocketQAv2's re-ranker, arXiv 2110.07367; Gao et al.'s "localized
  contrastive estimation", as Tevatron trains re-rankers); or
* ``"listwise+pointwise"``: the sum of the two. The listwise term learns the ranking within a group (it
  cannot be lowered by shifting every logit, so it never settles on the label prior, which the pointwise
  loss alone did at small scale), and the pointwise term keeps sigmoid(z) a probability, which the
  thresholds of denoising and augmentation read.

Each is this process's mean divided by the world size, so that the loop's summed gradients are the
gradient of the mean over every process's pairs (groups): every process holds as many.

Where this differs from the paper's recipe: the paper trains on every (query, positive) pair and on
negatives sampled from the dual encoder's top-k retrieved passages; here `BatchPlan` samples one positive
per query per epoch (as for the dual encoder), and the negatives are the group's candidate pool (mined
from any retriever's top-k; see `rqbench.training.mining`) sampled afresh each epoch with
``negative_sampling="random"`` (``"top"``: the first h, every epoch). A group with fewer than h negatives
is topped up with repeats, and one with none gets other groups' positives (see `batches`). The output
is ``model/``, written with `CrossEncoder.save` (an HF folder plus ``rqbench_cross_encoder.json`` with
`max_length` and `pooling`), which `CrossEncoder.load` reads back as is. The model reads each pair
through `pooling` ("cls": the model's own pooled-[CLS] head, the paper's; "mean": the mean token state).
"""

from __future__ import annotations

from pathlib import Path

import torch

from rqbench.errors import RqbenchError
from rqbench.models.cross_encoder import CrossEncoder
from rqbench.training.batches import BatchPlan, LocalBatch
from rqbench.training.distributed import DistEnv, to_device
from rqbench.training.tasks.groups_task import GroupsTask

NEEDS_NEGATIVES = ("a cross-encoder needs negatives to train on: set hard_negatives_per_query >= 1 "
                   "(the groups' negatives, or other groups' positives when they have none)")


class CrossEncoderTask(GroupsTask):
    name = "cross-encoder"
    outputs = ("model",)

    def plan(self, world_size: int) -> BatchPlan:
        if self.config.hard_negatives_per_query < 1:
            raise RqbenchError(NEEDS_NEGATIVES)
        return self.batch_plan(world_size)

    def summary(self) -> str:
        h = self.config.hard_negatives_per_query
        return (f"{len(self.groups)} groups, 1 positive + {h} negative{'s' if h != 1 else ''} each, "
                f"{self.config.ce_loss} loss")

    def load_model(self, init: Path | None) -> CrossEncoder:
        name = str(init / "model") if init is not None else self.config.model
        return CrossEncoder.load(name, max_length=self.config.max_length, pooling=self.config.pooling)

    def loss(self, model: CrossEncoder, batch: LocalBatch, env: DistEnv) -> torch.Tensor:
        h = self.config.hard_negatives_per_query
        pairs, labels = group_pairs(batch, h)
        encoded = to_device(model.tokenize(pairs), env.device)
        logits = model(encoded).float().reshape(len(batch.queries), 1 + h)
        loss = self.config.ce_loss
        total = torch.zeros((), device=logits.device)
        if loss in ("listwise", "listwise+pointwise"):
            total = total + listwise_loss(logits)
        if loss in ("pointwise", "listwise+pointwise"):
            total = total + pointwise_loss(logits, labels.to(env.device))
        return total / env.world_size

    def save(self, model: CrossEncoder, folder: Path) -> None:
        model.save(folder / "model")


def group_pairs(batch: LocalBatch, h: int) -> tuple[list[tuple[str, str]], torch.Tensor]:
    """The batch's (query, passage) pairs, group by group (positive, then its `h` negatives), and their
    labels (n_groups, 1 + h): 1 for the positive, 0 for the negatives."""
    n = len(batch.queries)
    negatives = batch.pool[n:]
    if len(negatives) != n * h:
        raise ValueError(f"expected {n * h} negatives for {n} queries, got {len(negatives)}")
    pairs: list[tuple[str, str]] = []
    for i, query in enumerate(batch.queries):
        pairs.append((query, batch.pool[batch.pos_index[i]].text))
        pairs.extend((query, p.text) for p in negatives[i * h:(i + 1) * h])
    labels = torch.zeros(n, 1 + h)
    labels[:, 0] = 1.0
    return pairs, labels


def pointwise_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits, the mean over every pair (RocketQA's 2-class cross-entropy)."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)


def listwise_loss(logits: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of each group's logits (row) with the positive (column 0) as target."""
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return torch.nn.functional.cross_entropy(logits, target)
