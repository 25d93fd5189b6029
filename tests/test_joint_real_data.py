"""RocketQAv2's joint training on real data with the real MiniLM in both roles: ten steps on 40 SciFact training
claims (lists of the positive and 3 random passages) lower the re-ranker's listwise loss and the KL term on 32
held-apart claims' lists, and raise the re-ranker's RR on those lists above its warm start (the packaged MiniLM
with a fresh, seeded head). The learning rate is high (3e-4) so that ten steps show it; the numbers are the
trained models', computed here, not recorded ones."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from rqbench.data import load_dataset
from rqbench.models.cross_encoder import CrossEncoder
from rqbench.models.dual_encoder import DualEncoder
from rqbench.training.config import TrainConfig
from rqbench.training.distributed import DistEnv
from rqbench.training.groups import TrainingGroup, groups_from_qrels, write_groups
from rqbench.training.losses.joint import joint_loss
from rqbench.training.run import run_training
from rqbench.training.tasks import make_task
from rqbench.training.tasks.joint import JointModel, JointTask

pytestmark = pytest.mark.slow
CPU = DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def held_apart_figures(task: JointTask, model: JointModel) -> tuple[float, float, float]:
    """(re-ranker listwise loss, KL, the re-ranker's mean reciprocal rank of the positive) over every held list."""
    batch = task.plan(1).local_batch(0, 0, 0)
    model.eval()
    with torch.inference_mode():
        scores, logits = task.list_scores(model, batch, CPU)  # once: the loss and the ranks read the same
        loss = joint_loss(scores, logits, task.config.kl_reaches_reranker, task.config.reranker_loss)
    ranks = 1 + (logits[:, 1:] > logits[:, :1]).sum(1)
    return loss.reranker.item(), loss.kl.item(), (1.0 / ranks.float()).mean().item()


def test_a_short_joint_run_on_scifact_lowers_both_losses_and_teaches_the_reranker(tmp_path: Path,
                                                                                 data_root: Path) -> None:
    groups = groups_from_qrels(load_dataset("scifact", data_root), "train", negatives="random", n_negatives=3,
                               seed=0)
    random.Random(0).shuffle(groups)
    train, held = groups[:40], groups[40:72]
    write_groups(train, tmp_path / "train.jsonl")
    write_groups([TrainingGroup(g.query_id, g.query, g.positives[:1], g.negatives) for g in held],
                 tmp_path / "held.jsonl")
    config = TrainConfig(model="minilm", reranker_model="minilm", reranker_pooling="mean", max_query_length=32,
                         max_passage_length=64, max_length=96, hard_negatives_per_query=3, batch_size=4, epochs=1,
                         lr=3e-4, warmup_ratio=0.0, seed=5, threads=1, mixed_precision="no")
    held_task = make_task("joint", tmp_path / "held.jsonl", TrainConfig(**{**config.to_dict(), "batch_size": 32}))
    assert isinstance(held_task, JointTask)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the figures of one thread (and the same as the training's)
    try:
        loss0, kl0, rr0 = held_apart_figures(held_task, held_task.load_model(None))  # the warm start
        out = run_training("joint", tmp_path / "train.jsonl", config, tmp_path / "out", progress=False)
        trained = JointModel(DualEncoder.load(str(out["retriever"])),
                             CrossEncoder.load(str(out["reranker"]), max_length=96))
        loss1, kl1, rr1 = held_apart_figures(held_task, trained)
    finally:
        torch.set_num_threads(threads)
    assert loss1 < loss0 and kl1 < kl0, (loss0, loss1, kl0, kl1)
    assert rr1 > rr0 + 0.1, (rr0, rr1)
