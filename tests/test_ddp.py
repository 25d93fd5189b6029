"""DistributedDataParallel in the training loop (`train.ddp`): two real gloo processes training a
tiny BERT dual encoder with cross-batch negatives and gradient accumulation (no_sync on the first micro-batch)
reach the same weights as the loop's own all-reduce after the step, to float rounding."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
from conftest import bio_text

from rqbench.models.dual_encoder import DualEncoder
from rqbench.training.config import TrainConfig
from rqbench.training.groups import Passage, TrainingGroup, write_groups
from rqbench.training.run import run_training
from rqbench.training.tiny import make_tiny_bert


def groups(n: int) -> list[TrainingGroup]:
    return [TrainingGroup(f"q{i}", bio_text(i, 4), (Passage(f"p{i}", bio_text(50 + i, 9)),),
                          (Passage(f"n{i}", bio_text(80 + i, 8)),)) for i in range(n)]


def _rank_env(rank: int, port: int) -> dict[str, str]:
    """What torchrun would put in rank `rank`'s environment."""
    return {"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port)}


def _rank1(port: int, groups_path: str, config: TrainConfig, out: str) -> None:
    """Rank 1 in a forked child: the real loop, its environment its own."""
    os.environ.update(_rank_env(1, port))
    torch.set_num_threads(1)
    run_training("dual-encoder", groups_path, config, out, progress=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_ddp_trains_to_the_weights_of_the_summed_all_reduce(tmp_path: Path, forked, monkeypatch) -> None:
    """Rank 0 runs in this process, rank 1 in a forked child (real processes meeting through gloo, without
    new interpreters)."""
    tiny = make_tiny_bert(tmp_path / "tiny")
    write_groups(groups(32), tmp_path / "groups.jsonl")
    common = {"model": str(tiny), "negatives": "cross-batch", "max_query_length": 16, "max_passage_length": 16,
              "batch_size": 2, "grad_accumulation": 2, "max_steps": 3, "hard_negatives_per_query": 1, "lr": 1e-3,
              "mixed_precision": "no", "threads": 1, "device": "cpu"}
    weights, norms = {}, {}
    for ddp in (False, True):
        config, out, port = TrainConfig(**common, ddp=ddp), str(tmp_path / f"ddp-{ddp}"), _free_port()
        with monkeypatch.context() as env:  # rank 0 here: its environment restored after, for the next tests
            for key, value in _rank_env(0, port).items():
                env.setenv(key, value)
            with forked(_rank1, port, str(tmp_path / "groups.jsonl"), config, out) as other:
                threads = torch.get_num_threads()
                torch.set_num_threads(1)
                try:
                    run_training("dual-encoder", str(tmp_path / "groups.jsonl"), config, out, progress=False)
                finally:
                    torch.set_num_threads(threads)
        assert other.exitcode == 0
        weights[ddp] = DualEncoder.load(str(Path(out) / "model")).query_tower.state_dict()
        log = (Path(out) / "train_log.jsonl").read_text().splitlines()
        norms[ddp] = [json.loads(line)["grad_norm"] for line in log]
    # the gradient itself, before clipping and Adam (which would hide a wrongly scaled one)
    assert len(norms[True]) == 3 and all(abs(a - b) <= 1e-5 * b for a, b in zip(norms[True], norms[False],
                                                                                  strict=True)), norms
    start = DualEncoder.load(str(tiny)).query_tower.state_dict()
    name = "embeddings.word_embeddings.weight"
    assert not torch.equal(weights[False][name], start[name])  # it trained
    diff = max(float((weights[True][k] - weights[False][k]).abs().max()) for k in weights[False])
    assert diff <= 1e-5, diff


def test_ddp_with_cached_gradients_is_refused() -> None:
    with pytest.raises(ValueError, match="ddp with grad_cache_chunk"):
        TrainConfig(negatives="cross-batch", ddp=True, grad_cache_chunk=2)
