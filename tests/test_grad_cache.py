"""Cached-gradient batches (GradCache) give the full batch's loss and gradient: one process against the plain
step, with dropout against the same chunked masks, composed with cross-batch negatives on two real gloo
processes against one process holding the concatenated batch, and through the training loop. fp32, 1e-5."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from conftest import bio_text

from rqbench.errors import RqbenchError
from rqbench.models.dual_encoder import DualEncoder, EncoderConfig
from rqbench.training.config import TrainConfig
from rqbench.training.distributed import all_reduce_gradients
from rqbench.training.grad_cache import cached_backward, chunks
from rqbench.training.groups import Passage, TrainingGroup, write_groups
from rqbench.training.losses import cross_batch_loss, in_batch_loss
from rqbench.training.run import run_training
from rqbench.training.tiny import make_tiny_bert

B, H = 4, 2  # queries per process, hard negatives per query
TOL = 1e-5


def batch_of(rank: int) -> tuple[list[str], list[str]]:
    qs = [bio_text(100 + rank * B + i, 4) for i in range(B)]
    return qs, [bio_text(200 + rank * B + i, 9) for i in range(B)] + [bio_text(300 + rank * B * H + i, 8)
                                                                   for i in range(B * H)]


def load(tiny: Path) -> DualEncoder:
    return DualEncoder.load(str(tiny), EncoderConfig(max_query_length=32, max_passage_length=32))


def encoder(model: DualEncoder, side: str) -> Callable[[list[str]], torch.Tensor]:
    return lambda texts: model(model.tokenize(texts, side), side)


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys() and a
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_dropout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-dropout"), dropout=0.2)


@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_a_cached_step_equals_the_full_batch_step(tiny: Path, chunk: int) -> None:
    qs, pool = batch_of(0)
    pos = torch.arange(B)
    full = load(tiny)
    loss = in_batch_loss(encoder(full, "query")(qs), encoder(full, "passage")(pool), pos, 20.0)
    loss.backward()
    cached = load(tiny)
    value = cached_backward([(encoder(cached, "query"), qs), (encoder(cached, "passage"), pool)], chunk,
                            lambda q, p: in_batch_loss(q, p, pos, 20.0), lambda t: t.backward(), torch.device("cpu"))
    reference = grads(full)
    assert max(float(g.abs().max()) for g in reference.values()) > 1e-3  # not trivially small
    assert abs(value - loss.item()) <= TOL
    assert max_diff(grads(cached), reference) <= TOL


def test_with_dropout_both_passes_draw_the_same_masks(tiny_dropout: Path) -> None:
    """The reference encodes the same chunks with a graph from the same random state: the same masks, so the
    cached gradient equals it; a cached step whose second pass drew fresh masks would not."""
    qs, pool = batch_of(0)
    pos = torch.arange(B)
    chunk = 3

    def chunked(model: DualEncoder, side: str, texts: list[str]) -> torch.Tensor:
        return torch.cat([encoder(model, side)(texts[s]) for s in chunks(len(texts), chunk)])

    torch.manual_seed(5)
    reference_model = load(tiny_dropout).train()
    loss = in_batch_loss(chunked(reference_model, "query", qs), chunked(reference_model, "passage", pool), pos, 20.0)
    loss.backward()
    after_reference = torch.rand(1)
    torch.manual_seed(5)
    model = load(tiny_dropout).train()
    value = cached_backward([(encoder(model, "query"), qs), (encoder(model, "passage"), pool)], chunk,
                            lambda q, p: in_batch_loss(q, p, pos, 20.0), lambda t: t.backward(), torch.device("cpu"))
    assert torch.equal(torch.rand(1), after_reference)  # the random stream goes on as after one pass
    assert abs(value - loss.item()) <= TOL
    assert max_diff(grads(model), grads(reference_model)) <= TOL


def _worker(rank: int, world: int, tmp: str, tiny: str) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world,
                            timeout=timedelta(seconds=120))
    try:
        model = load(Path(tiny))
        qs, pool = batch_of(rank)
        sides = [(encoder(model, "query"), qs), (encoder(model, "passage"), pool)]
        value = cached_backward(sides, 2, lambda q, p: cross_batch_loss(q, p, torch.arange(B), scale=20.0),
                                lambda t: t.backward(), torch.device("cpu"))
        all_reduce_gradients(model.parameters())
        total = torch.tensor(value)
        dist.all_reduce(total)
        return {"loss": float(total), "grads": grads(model)}
    finally:
        dist.destroy_process_group()
        torch.set_num_threads(threads)


def test_cached_gradients_compose_with_cross_batch_negatives(tmp_path: Path, tiny: Path,
                                                             forked: Callable[..., Any]) -> None:
    with contextlib.ExitStack() as stack:
        other = stack.enter_context(forked(_worker, 1, 2, str(tmp_path), str(tiny)))
        got = _worker(0, 2, str(tmp_path), str(tiny))
    assert other.exitcode == 0
    full = load(tiny)
    (q0, p0), (q1, p1) = batch_of(0), batch_of(1)
    pos = torch.cat([torch.arange(B), torch.arange(B) + len(p0)])
    loss = in_batch_loss(encoder(full, "query")(q0 + q1), encoder(full, "passage")(p0 + p1), pos, 20.0)
    loss.backward()
    assert abs(got["loss"] - loss.item()) <= TOL
    assert max_diff(got["grads"], grads(full)) <= TOL


def _groups(n: int) -> list[TrainingGroup]:
    return [TrainingGroup(f"q{i}", bio_text(i, 4), (Passage(f"p{i}", bio_text(50 + i, 9)),),
                          (Passage(f"n{i}", bio_text(80 + i, 8)), Passage(f"m{i}", bio_text(90 + i, 7))))
            for i in range(n)]


def test_the_training_loop_takes_cached_steps_to_the_same_model(tmp_path: Path, tiny: Path) -> None:
    write_groups(_groups(8), tmp_path / "groups.jsonl")
    common = {"model": str(tiny), "max_query_length": 16, "max_passage_length": 16, "batch_size": 4, "max_steps": 2,
              "hard_negatives_per_query": 1, "lr": 1e-3, "mixed_precision": "no", "threads": 1, "device": "cpu"}
    plain = run_training("dual-encoder", tmp_path / "groups.jsonl", TrainConfig(**common), tmp_path / "plain",
                         progress=False)
    cached = run_training("dual-encoder", tmp_path / "groups.jsonl", TrainConfig(**common, grad_cache_chunk=3),
                          tmp_path / "cached", progress=False)
    a, b = DualEncoder.load(str(plain["model"])), DualEncoder.load(str(cached["model"]))
    start = load(tiny)
    name = "embeddings.word_embeddings.weight"
    assert not torch.equal(a.query_tower.state_dict()[name], start.query_tower.state_dict()[name])  # it trained
    assert max_diff(dict(a.query_tower.state_dict()), dict(b.query_tower.state_dict())) <= TOL


def test_a_task_without_cached_steps_refuses_the_setting(tmp_path: Path, tiny: Path) -> None:
    write_groups(_groups(4), tmp_path / "groups.jsonl")
    config = TrainConfig(model=str(tiny), max_length=16, batch_size=2, max_steps=1, hard_negatives_per_query=1,
                         grad_cache_chunk=2, mixed_precision="no", device="cpu")
    with pytest.raises(RqbenchError, match="grad_cache_chunk: the cross-encoder task has no cached-gradient step"):
        run_training("cross-encoder", tmp_path / "groups.jsonl", config, tmp_path / "ce", progress=False)
