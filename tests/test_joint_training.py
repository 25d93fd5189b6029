"""RocketQAv2's joint training (rqbench.training.losses.joint, rqbench.training.tasks.joint): the loss on a
hand-computed list and against torch's own KL divergence, the gradient routing of the KL term (the official
code's: the re-ranker gets none of it; the option: it does), lists kept whole, and a real run of tiny
models that lowers the loss, writes both models and resumes after an interruption to the same weights."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from rqbench.errors import RqbenchError
from rqbench.models.cross_encoder import CrossEncoder
from rqbench.models.dual_encoder import DualEncoder
from rqbench.training.config import TrainConfig
from rqbench.training.distributed import DistEnv
from rqbench.training.groups import Passage, TrainingGroup, write_groups
from rqbench.training.losses.joint import joint_loss
from rqbench.training.run import run_training
from rqbench.training.tasks import make_task
from rqbench.training.tiny import make_tiny_bert


def test_the_loss_of_a_hand_computed_list() -> None:
    # P_ce = softmax([ln 3, 0]) = [3/4, 1/4]; P_de = softmax([0, 0]) = [1/2, 1/2]
    out = joint_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]))
    ce = -math.log(0.75)
    kl = (0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)) / 2  # the mean over the list's 2 elements
    assert out.reranker.item() == pytest.approx(ce, abs=1e-6)
    assert out.kl.item() == pytest.approx(kl, abs=1e-6)
    assert out.total.item() == pytest.approx(ce + kl, abs=1e-6)


@pytest.mark.parametrize("reaches", [False, True])
def test_the_loss_equals_torchs_cross_entropy_and_elementwise_kl_divergence(reaches: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    z = torch.randn(5, 8, generator=gen, dtype=torch.float64)
    out = joint_loss(s, z, kl_reaches_reranker=reaches)
    # Paddle's kldiv_loss "mean": the element mean (torch's reduction "mean", spelt out: it will change meaning)
    reference_kl = F.kl_div(F.log_softmax(s, 1), F.softmax(z, 1), reduction="sum") / s.numel()
    reference_ce = F.cross_entropy(z, torch.zeros(5, dtype=torch.long))
    assert out.kl.item() == pytest.approx(reference_kl.item(), rel=1e-12)
    assert out.total.item() == pytest.approx((reference_ce + reference_kl).item(), rel=1e-12)


def test_by_default_the_kl_term_trains_only_the_retriever() -> None:
    gen = torch.Generator().manual_seed(1)
    grads = {}
    for reaches in (False, True):
        s = torch.randn(3, 4, generator=gen).requires_grad_()
        z = torch.randn(3, 4, generator=gen).requires_grad_()
        joint_loss(s, z, kl_reaches_reranker=reaches).kl.backward()
        grads[reaches] = (s.grad, z.grad)
    s_grad, z_grad = grads[False]
    assert z_grad is None or torch.count_nonzero(z_grad) == 0  # the official code: no KL gradient to the re-ranker
    assert torch.count_nonzero(s_grad) > 0
    assert torch.count_nonzero(grads[True][1]) > 0  # the option: the KL gradient reaches it


def test_the_pointwise_and_frozen_reranker_terms() -> None:
    """The paper's ablations of the re-ranker: a pointwise term (binary CE per element, positive first) in place
    of the listwise one; static distillation (no re-ranker term, no gradient to it)."""
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(3, 4, generator=gen, dtype=torch.float64).requires_grad_()
    z = torch.randn(3, 4, generator=gen, dtype=torch.float64).requires_grad_()
    listwise = joint_loss(s, z)
    pointwise = joint_loss(s, z, reranker_loss="pointwise")
    labels = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 3, dtype=torch.float64)
    assert pointwise.reranker.item() == pytest.approx(F.binary_cross_entropy_with_logits(z, labels).item(), rel=1e-12)
    assert pointwise.kl.item() == pytest.approx(listwise.kl.item(), rel=1e-12)  # the same distillation term
    frozen = joint_loss(s, z, reranker_loss="frozen")
    assert frozen.reranker.item() == 0.0 and frozen.total.item() == pytest.approx(listwise.kl.item(), rel=1e-12)
    frozen.total.backward()
    assert z.grad is None or torch.count_nonzero(z.grad) == 0
    assert s.grad is not None and torch.count_nonzero(s.grad) > 0
    with pytest.raises(ValueError, match="takes no gradient"):
        joint_loss(s, z, kl_reaches_reranker=True, reranker_loss="frozen")


def groups(n: int) -> list[TrainingGroup]:
    words = ["cell", "gene", "tumour", "virus", "enzyme", "neuron", "insulin", "kinase", "dose", "trial", "risk"]

    def text(i: int, k: int) -> str:
        return " ".join(words[(i * 5 + j * 7) % len(words)] for j in range(k)) + f" case {i}"

    return [TrainingGroup(f"q{i}", text(i, 4), (Passage(f"d{i}", text(i, 6) + " " + text(i + 100, 6)),),
                          tuple(Passage(f"n{i}-{j}", text(i * 3 + j + 300, 10)) for j in range(5)))
            for i in range(n)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return make_tiny_bert(root / "retriever", seed=1), make_tiny_bert(root / "reranker", seed=2)


def config(tiny: tuple[Path, Path], **over: object) -> TrainConfig:
    values = {"model": str(tiny[0]), "reranker_model": str(tiny[1]), "max_query_length": 16,
              "max_passage_length": 24, "max_length": 40, "hard_negatives_per_query": 3, "batch_size": 4,
              "epochs": 3, "lr": 2e-3, "warmup_ratio": 0.0, "seed": 3, "threads": 1, "mixed_precision": "no",
              "scale": 1.0, **over}
    return TrainConfig(**values)


def test_lists_stay_whole_and_the_kl_gradient_reaches_the_reranker_only_with_the_option(
        tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    path = tmp_path / "groups.jsonl"
    write_groups(groups(12), path)
    env = DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    for reaches in (False, True):
        task = make_task("joint", path, config(tiny, kl_reaches_reranker=reaches))
        plan = task.plan(1)
        model = task.load_model(None)
        batch = plan.local_batch(1, 0, 0)
        n = len(batch.queries)
        for i, qid in enumerate(batch.query_ids):  # each list: the query's positive, then its own negatives
            ids = [batch.pool[batch.pos_index[i]].id] + [p.id for p in batch.pool[n + 3 * i:n + 3 * (i + 1)]]
            assert ids[0] == f"d{qid[1:]}" and all(x.startswith(f"n{qid[1:]}-") for x in ids[1:])
        scores, logits = task.list_scores(model, batch, env)
        assert scores.shape == logits.shape == (n, 4)
        model.zero_grad()
        torch.autograd.backward(task.joint(model, batch, env).kl)
        reranker = [p.grad for p in model.reranker.parameters() if p.requires_grad]
        retriever = [p.grad for p in model.retriever.parameters() if p.requires_grad]
        assert any(g is not None and torch.count_nonzero(g) > 0 for g in retriever)
        got = any(g is not None and torch.count_nonzero(g) > 0 for g in reranker)
        assert got is reaches


def test_a_short_joint_run_lowers_the_loss_writes_both_models_and_resumes(
        tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    path = tmp_path / "groups.jsonl"
    write_groups(groups(16), path)
    cfg = config(tiny, save_every=4, keep_checkpoints=2)  # 16 lists / 4 = 4 steps an epoch, 12 steps
    full = run_training("joint", path, cfg, tmp_path / "full", progress=False)
    assert set(full) == {"retriever", "reranker"}
    lines = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    log = [line["loss"] for line in lines]
    assert len(log) == 12 and sum(log[-4:]) < sum(log[:4]), log
    for line in lines:  # the two terms are logged and make up the loss
        assert line["reranker_loss"] + line["kl_loss"] == pytest.approx(line["loss"], rel=1e-5)
    # the re-ranker's own term falls (tiny random towers give near-uniform lists: their KL is ~1e-6, noise)
    assert sum(x["reranker_loss"] for x in lines[-4:]) < sum(x["reranker_loss"] for x in lines[:4])
    last = lines[-1]  # the peak memory of the run, on its last line only
    assert last["peak_rss_mib"] >= last["start_rss_mib"] > 0 and "peak_rss_mib" not in lines[0]
    retriever, reranker = DualEncoder.load(str(full["retriever"])), CrossEncoder.load(str(full["reranker"]))
    assert retriever.config.max_passage_length == 24 and reranker.config.max_length == 40

    # interrupted after step 8: its last checkpoint is step 8's; resuming gives the uninterrupted weights
    cut = tmp_path / "cut"
    run_training("joint", path, cfg, cut, progress=False)
    for folder in ("retriever", "reranker"):
        shutil.rmtree(cut / folder)
    shutil.rmtree(cut / "checkpoint-12", ignore_errors=True)
    assert (cut / "checkpoint-8").exists()
    resumed = run_training("joint", path, cfg, cut, progress=False)
    for name, cls in (("retriever", DualEncoder), ("reranker", CrossEncoder)):
        a, b = cls.load(str(full[name])).state_dict(), cls.load(str(resumed[name])).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_joint_training_without_a_reranker_or_lists_is_one_line(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    path = tmp_path / "groups.jsonl"
    write_groups(groups(4), path)
    with pytest.raises(RqbenchError, match="needs reranker_model"):
        make_task("joint", path, config(tiny, reranker_model="")).plan(1)
    with pytest.raises(RqbenchError, match="needs lists"):
        make_task("joint", path, config(tiny, hard_negatives_per_query=0)).plan(1)


def test_settings_added_for_joint_training_leave_every_earlier_train_hash_alone(data_root: Path) -> None:
    """A setting added later is hashed only when set: the committed suites' train stages keep their hashes
    (the store's artifacts stay valid) and a checkpoint written before it resumes."""
    from rqbench.plan import plan_suite
    from rqbench.suite import load_suite
    from rqbench.training.config import ADDED_LATER

    suite = Path(__file__).resolve().parents[1] / "suites" / "rocketqa-scifact.toml"
    trains = [n for n in plan_suite(load_suite(suite), data_root).nodes.values() if n.kind.name == "train"]
    assert trains and all(not set(ADDED_LATER) & set(n.params.trainer) for n in trains)
    assert {"reranker_model", "kl_reaches_reranker"} <= set(ADDED_LATER)


def test_static_distillation_leaves_the_reranker_as_it_was(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    """reranker_loss = 'frozen': the re-ranker is saved unchanged (no gradient, no dropout), the retriever moves."""
    path = tmp_path / "groups.jsonl"
    write_groups(groups(8), path)
    out = run_training("joint", path, config(tiny, reranker_loss="frozen", epochs=1), tmp_path / "out", progress=False)
    start = CrossEncoder.load(str(tiny[1])).state_dict()
    after = CrossEncoder.load(str(out["reranker"])).state_dict()
    assert set(start) == set(after) and all(torch.equal(start[k], after[k]) for k in start)
    moved = DualEncoder.load(str(out["retriever"])).state_dict()
    base = DualEncoder.load(str(tiny[0])).state_dict()
    assert any(not torch.equal(base[k], moved[k]) for k in base if k in moved)
    with pytest.raises(ValueError, match="frozen"):
        config(tiny, reranker_loss="frozen", kl_reaches_reranker=True)


def test_gradient_checkpointing_gives_the_same_gradients(tmp_path: Path) -> None:
    """Both towers and the re-ranker recompute their activations in the backward pass; with dropout on, the
    replayed random stream makes every gradient the plain pass's."""
    from rqbench.training.loop import enable_gradient_checkpointing

    root = tmp_path / "tiny"
    models = (make_tiny_bert(root / "r", seed=1, dropout=0.1), make_tiny_bert(root / "c", seed=2, dropout=0.1))
    path = tmp_path / "groups.jsonl"
    write_groups(groups(8), path)
    env = DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    grads = []
    for checkpointing in (False, True):
        task = make_task("joint", path, config(models, kl_reaches_reranker=True))
        batch = task.plan(1).local_batch(0, 0, 0)
        torch.manual_seed(0)
        model = task.load_model(None)
        if checkpointing:
            assert enable_gradient_checkpointing(model) == 2  # the shared tower and the re-ranker
        model.train()
        torch.manual_seed(7)
        task.loss(model, batch, env).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    plain, checkpointed = grads
    assert set(plain) == set(checkpointed) and len(plain) > 20
    for name, g in plain.items():
        assert torch.allclose(g, checkpointed[name], rtol=1e-4, atol=1e-7), name
