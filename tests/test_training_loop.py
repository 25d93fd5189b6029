"""The one training loop: tasks plug in, outputs, resume without pickle, negative sampling, entry points.

Real torch (a toy two-model task, a tiny random BERT), real files, no mocks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch
import typer
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from rqbench.errors import RqbenchError
from rqbench.models.hf import model_digest, resolve_model
from rqbench.models.spec import ENCODER_FIELDS, EncoderSpec
from rqbench.training.__main__ import main as train_main
from rqbench.training.batches import BatchPlan
from rqbench.training.cli import train_command
from rqbench.training.config import TrainConfig
from rqbench.training.distributed import DistEnv, torchrun_command
from rqbench.training.groups import Passage, TrainingGroup, write_groups
from rqbench.training.loop import train
from rqbench.training.run import run_training
from rqbench.training.tasks import TASKS, make_task
from rqbench.training.tiny import make_tiny_bert
from rqbench_backends.dense import DenseParams

# ---------------------------------------------------------------------------------------------------
# (a) a second task through the same loop: one module holding two models, two output folders


class TwoModels(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.retriever = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
        self.reranker = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 1))


class ToyPlan:
    def __init__(self, world_size: int, steps_per_epoch: int, epochs: int, batch: int) -> None:
        self.world_size, self.batch = world_size, batch
        self.steps_per_epoch, self.total_steps = steps_per_epoch, steps_per_epoch * epochs
        self.global_batch = batch * world_size

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def local_batch(self, step: int, micro: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(1000 * (step % self.steps_per_epoch) + 10 * micro + rank)
        x = torch.randn(self.batch, 6, generator=g)
        return x, x[:, :3].sum(1, keepdim=True) - x[:, 3:].sum(1, keepdim=True)


class ToyJointTask:
    """Regression by two models trained in the same steps (the shape of RocketQAv2's joint training)."""

    name = "toy-joint"
    outputs = ("retriever", "reranker")

    def __init__(self, data: Path, config: TrainConfig) -> None:
        self.data, self.config = data, config

    def data_files(self) -> dict[str, Path]:
        return {"toy": self.data}

    def plan(self, world_size: int) -> ToyPlan:
        return ToyPlan(world_size, steps_per_epoch=4, epochs=self.config.epochs, batch=self.config.batch_size)

    def summary(self) -> str:
        return "toy data"

    def load_model(self, init: Path | None) -> TwoModels:
        model = TwoModels()
        if init is not None:
            for name in self.outputs:
                getattr(model, name).load_state_dict(load_file(init / name / "model.safetensors"))
        return model

    def loss(self, model: TwoModels, batch: tuple[torch.Tensor, torch.Tensor], env: DistEnv) -> torch.Tensor:
        x, y = batch
        mse = torch.nn.functional.mse_loss
        return (mse(model.retriever(x), y) + mse(model.reranker(x), y)) / env.world_size

    def save(self, model: TwoModels, folder: Path) -> None:
        for name in self.outputs:
            (folder / name).mkdir(parents=True)
            save_file(getattr(model, name).state_dict(), folder / name / "model.safetensors")


def toy_weights(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v for name in ToyJointTask.outputs
            for k, v in load_file(folder / name / "model.safetensors").items()}


def test_a_second_task_with_two_outputs_trains_checkpoints_and_resumes_exactly(tmp_path: Path) -> None:
    data = tmp_path / "toy.txt"
    data.write_text("toy data v1\n")
    config = TrainConfig(batch_size=8, epochs=2, lr=1e-2, warmup_ratio=0.25, save_every=2, keep_checkpoints=2,
                         threads=1, seed=3)
    full = train(ToyJointTask(data, config), config, tmp_path / "full", progress=False)
    assert full == {"retriever": tmp_path / "full" / "retriever", "reranker": tmp_path / "full" / "reranker"}
    for folder in full.values():
        info = json.loads((folder / "training_info.json").read_text())
        assert info["task"] == "toy-joint" and info["total_steps"] == 8 and info["world_size"] == 1
    log = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 9)) and log[-1]["loss"] < log[0]["loss"]
    torch.manual_seed(3)
    untrained = TwoModels()
    assert not torch.allclose(toy_weights(tmp_path / "full")["reranker.0.weight"], untrained.reranker[0].weight)
    assert not list((tmp_path / "full").glob(".*.tmp"))

    # checkpoints hold every output, and their trainer/RNG state loads without unpickling anything
    cut = tmp_path / "cut"
    train(ToyJointTask(data, config), config, cut, progress=False)
    assert sorted(p.name for p in cut.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-6"]
    checkpoint = cut / "checkpoint-4"
    assert all((checkpoint / name / "model.safetensors").exists() for name in ToyJointTask.outputs)
    state = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
    assert state["optimizer"]["state"] and state["scheduler"]["last_epoch"] == 4
    rng = torch.load(checkpoint / "rng_state_0.pt", weights_only=True)
    assert rng["python"].dtype == torch.int64 and rng["python"].numel() == 625

    # killed after step 7 (outputs and checkpoint-6 lost): resumes at 4, ends where the full run ended
    for name in ("retriever", "reranker", "checkpoint-6"):
        shutil.rmtree(cut / name)
    resumed = train(ToyJointTask(data, config), config, cut, progress=False)
    a, b = toy_weights(tmp_path / "full"), toy_weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log_cut = [json.loads(x) for x in (cut / "train_log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log_cut] == [r["loss"] for r in log]

    # a folder holding every output is returned as is (the plan is not even asked for)
    class Finished(ToyJointTask):
        def plan(self, world_size: int) -> ToyPlan:
            raise AssertionError("trained again")

    assert train(Finished(data, config), config, cut, progress=False) == resumed
    # a checkpoint of other data or another task is refused in one line
    shutil.rmtree(cut / "reranker")
    data.write_text("toy data v2\n")
    with pytest.raises(RqbenchError, match=r"checkpoint-6: checkpoint was trained on another toy file$"):
        train(ToyJointTask(data, config), config, cut, progress=False)

    class Other(ToyJointTask):
        name = "other-task"

    with pytest.raises(RqbenchError, match="written by task 'toy-joint', this run is 'other-task'"):
        train(Other(data, config), config, cut, progress=False)


# ---------------------------------------------------------------------------------------------------
# (b) cross-batch negatives with one process are an error, not silently in-batch

CROSS_BATCH_ERROR = "cross-batch negatives need nproc >= 2 (with one process they are in-batch negatives)"


def synthetic_groups(n: int, negatives: int) -> list[TrainingGroup]:
    return [TrainingGroup(f"q{i}", f"query {i}", (Passage(f"d{i}", f"positive {i}"),),
                          tuple(Passage(f"n{i}-{j}", f"negative {i} {j}") for j in range(negatives)))
            for i in range(n)]


def test_cross_batch_with_one_process_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    groups = tmp_path / "groups.jsonl"
    write_groups(synthetic_groups(8, 1), groups)
    config = TrainConfig(negatives="cross-batch", batch_size=4)
    with pytest.raises(RqbenchError) as err:
        train(make_task("dual-encoder", groups, config), config, tmp_path / "out", progress=False)
    assert str(err.value) == CROSS_BATCH_ERROR
    with pytest.raises(RqbenchError, match=r"^cross-batch negatives need nproc >= 2"):
        run_training("dual-encoder", groups, config, tmp_path / "out", nproc=1)
    assert train_main(["--groups", str(groups), "--out", str(tmp_path / "out"), "--set", "negatives=cross-batch",
                       "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {CROSS_BATCH_ERROR}"
    assert not (tmp_path / "out" / "model").exists()


# ---------------------------------------------------------------------------------------------------
# (c) which negatives a step uses: "top" (the first h, every epoch) or "random" (seeded, afresh each epoch)


def negatives_by_epoch(plan: BatchPlan) -> list[dict[str, list[str]]]:
    """Per epoch: query id -> the negatives put into the pool for it."""
    h = plan.hard_negatives
    epochs: list[dict[str, list[str]]] = []
    for step in range(plan.total_steps):
        if step % plan.steps_per_epoch == 0:
            epochs.append({})
        batch = plan.local_batch(step, 0, 0)
        negs = batch.pool[len(batch.queries):]
        for i, qid in enumerate(batch.query_ids):
            epochs[-1][qid] = [p.id for p in negs[i * h:(i + 1) * h]]
    return epochs


def test_negative_sampling_top_and_random(tmp_path: Path) -> None:
    groups = synthetic_groups(12, negatives=6)
    path = tmp_path / "groups.jsonl"
    write_groups(groups, path)
    top = make_task("dual-encoder", path, TrainConfig(batch_size=4, epochs=3, hard_negatives_per_query=2,
                                                      negative_sampling="top", seed=1)).plan(1)
    for epoch in negatives_by_epoch(top):
        assert len(epoch) == 12
        assert all(negs == [f"{qid.replace('q', 'n')}-0", f"{qid.replace('q', 'n')}-1"] for qid, negs in epoch.items())

    def random_plan(seed: int) -> BatchPlan:
        return BatchPlan(groups, 4, 1, 1, 3, 0, 2, seed=seed, negative_sampling="random")

    drawn = negatives_by_epoch(random_plan(1))
    assert drawn == negatives_by_epoch(random_plan(1))  # seeded: reproducible
    assert drawn != negatives_by_epoch(random_plan(2))
    assert drawn[0] != drawn[1] != drawn[2]  # drawn afresh each epoch
    for epoch in drawn:
        for qid, negs in epoch.items():
            assert len(set(negs)) == 2 and all(n.startswith(qid.replace("q", "n") + "-") for n in negs)
    assert any(negs != epoch_negs[:2] for epoch in drawn for negs, epoch_negs in
               ((epoch[q], [f"{q.replace('q', 'n')}-{j}" for j in range(6)]) for q in epoch))
    with pytest.raises(ValueError, match="negative_sampling"):
        TrainConfig(negative_sampling="bottom")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# registry, entry points, command line


def test_task_registry_and_unknown_task(tmp_path: Path) -> None:
    assert TASKS["dual-encoder"] == "rqbench.training.tasks.dual_encoder:DualEncoderTask"
    task = make_task("dual-encoder", tmp_path / "g.jsonl", TrainConfig())
    assert task.outputs == ("model",) and task.data_files() == {"groups": tmp_path / "g.jsonl"}
    with pytest.raises(RqbenchError, match=r"unknown training task 'dual-encodr' \(did you mean 'dual-encoder'\?\)"):
        make_task("dual-encodr", tmp_path / "g.jsonl", TrainConfig())


def test_torchrun_command_standalone_or_rendezvous() -> None:
    cmd = torchrun_command(2, "rqbench.training", ["--task", "t"], python="py")
    assert cmd == ["py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
                   "rqbench.training", "--task", "t"]
    rdzv = ["--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "host:29400"]
    assert torchrun_command(4, "m", [], python="py", torchrun_args=rdzv) == [
        "py", "-m", "torch.distributed.run", *rdzv, "--nproc-per-node", "4", "-m", "m"]
    assert "--standalone" not in torchrun_command(1, "m", [], torchrun_args=["--node_rank=0"])
    assert "--standalone" in torchrun_command(1, "m", [], torchrun_args=["--max-restarts", "0"])


def test_train_command_help_lists_options_and_settings(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("train")(train_command)
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--groups", "--out", "--config", "--task", "--set", "--nproc", "--nnodes", "--node-rank",
                   "--rdzv-endpoint", "--rdzv-id", "--rdzv-backend", "--quiet"):
        assert option in result.output, option
    assert "rendezvous" in result.output
    for field in fields(TrainConfig):
        assert f"{field.name} = {field.default!r}" in result.output, field.name
    # errors are RqbenchErrors for the app to print in one line
    result = CliRunner().invoke(app, ["train", "--groups", str(tmp_path / "missing.jsonl"), "--out",
                                      str(tmp_path / "o"), "--set", "batch_size=x"])
    assert isinstance(result.exception, RqbenchError)
    assert "parameter 'batch_size' must be" in str(result.exception)


# ---------------------------------------------------------------------------------------------------
# one encoder spec, model sources and digests


def test_encoder_spec_is_declared_once() -> None:
    assert ENCODER_FIELDS == ("model", "pooling", "normalize", "max_query_length", "max_passage_length", "towers",
                              "passage_input")
    for cls in (DenseParams, TrainConfig):
        assert issubclass(cls, EncoderSpec)
        assert tuple(f.name for f in fields(cls))[:7] == ENCODER_FIELDS
        with pytest.raises(ValueError, match="towers must be 'shared' or 'separate'"):
            cls(towers="two")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="pooling must be 'cls' or 'mean'"):
            cls(pooling="max")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_passage_length must be a whole number >= 1"):
            cls(max_passage_length=0)
        with pytest.raises(ValueError, match="model must be a non-empty string"):
            cls(model="")
    assert DenseParams.INDEX_FIELDS[0] == "model" and "threads" in DenseParams.NOT_HASHED
    code = ("import sys, rqbench.models.spec, rqbench.models.hf, rqbench.training.config, rqbench.training.cli, "
            "rqbench.training.run, rqbench.training.tasks; "
            "print(any(m in sys.modules for m in ('torch', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_model_sources_and_digests(tmp_path: Path) -> None:
    tiny = make_tiny_bert(tmp_path / "tiny")
    assert resolve_model(str(tiny)) == str(tiny)
    digest = model_digest(str(tiny))
    assert set(digest) == {"weights_sha256", "config_sha256"}
    two = tmp_path / "two"  # a folder of outputs (a joint run, separate towers): one digest per subfolder
    shutil.copytree(tiny, two / "query")
    shutil.copytree(tiny, two / "passage")
    (two / "rqbench_encoder.json").write_text("{}")
    assert model_digest(str(two)) == {"passage": digest, "query": digest}
    with pytest.raises(RqbenchError, match="model folder not found"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RqbenchError, match="not a model folder"):
        resolve_model(str(tmp_path / "empty"))
    assert resolve_model("org/some-model") == "org/some-model"
