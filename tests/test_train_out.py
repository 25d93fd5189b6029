"""`rqbench train --out DIR` never deletes a DIR/model/ it did not write (issue 20, item 4).

Through the real CLI, with a tiny random BERT and one training step where training has to happen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.training.groups import Passage, TrainingGroup, write_groups
from rqbench.training.run import TRAINING_INFO, check_out_dir


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rqbench.training.tiny import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", hidden=16, layers=1)


@pytest.fixture
def groups(tmp_path: Path) -> Path:
    path = tmp_path / "groups.jsonl"
    write_groups([TrainingGroup(f"q{i}", f"query {i}", (Passage(f"d{i}", f"positive {i}"),),
                                (Passage(f"n{i}", f"negative {i}"),)) for i in range(2)], path)
    return path


def user_model(out: Path) -> Path:
    """A folder of someone's own model at OUT/model/ (no training_info.json)."""
    model = out / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"mine": true}')
    (model / "notes.txt").write_text("weeks of work")
    return model


def train_args(groups: Path, out: Path, tiny: Path, *extra: str) -> list[str]:
    return ["train", "--groups", str(groups), "--out", str(out), "--quiet", "--set", f"model={tiny}",
            "--set", "max_steps=1", "--set", "batch_size=2", "--set", "threads=1", *extra]


def test_train_refuses_to_replace_a_model_folder_it_did_not_write(tmp_path: Path, groups: Path) -> None:
    model = user_model(tmp_path / "run")
    proc = cli(*train_args(groups, tmp_path / "run", Path("minilm")))  # refused before any model is loaded
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model/ already exists" in lines[0] and "--overwrite" in lines[0], proc.stderr
    assert str(tmp_path / "run") in lines[0]
    assert (model / "notes.txt").read_text() == "weeks of work" and not (model / TRAINING_INFO).exists()


def test_train_overwrite_replaces_it_and_a_previous_output_is_kept(tmp_path: Path, groups: Path, tiny: Path) -> None:
    out = tmp_path / "run"
    user_model(out)
    proc = cli(*train_args(groups, out, tiny, "--overwrite"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / "model")
    assert (out / "model" / TRAINING_INFO).exists() and not (out / "model" / "notes.txt").exists()
    assert json.loads((out / "model" / TRAINING_INFO).read_text())["total_steps"] == 1
    check_out_dir("dual-encoder", out)  # now a previous output of rqbench train: a rerun returns it as is


def test_files_and_links_in_the_way_are_refused_even_with_overwrite(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model").write_text("not a folder")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "model").symlink_to(user_model(tmp_path / "elsewhere"))
    (tmp_path / "c").write_text("a file")
    for out, problem in (("a", "model is a file"), ("b", "model is a symbolic link"), ("c", "--out is a file")):
        with pytest.raises(RqbenchError, match=problem):
            check_out_dir("dual-encoder", tmp_path / out, overwrite=True)
    assert (tmp_path / "elsewhere" / "model" / "notes.txt").exists()


def test_marker_is_the_one_the_loop_writes_and_fresh_folders_pass(tmp_path: Path) -> None:
    from rqbench.training import loop

    assert TRAINING_INFO == loop.TRAINING_INFO
    check_out_dir("dual-encoder", tmp_path / "new")  # nothing there yet
    (tmp_path / "old" / "model").mkdir(parents=True)
    (tmp_path / "old" / "model" / TRAINING_INFO).write_text("{}")
    check_out_dir("cross-encoder", tmp_path / "old")  # a previous run's output


def test_help_lists_overwrite() -> None:
    proc = cli("train", "--help")
    assert proc.returncode == 0 and "--overwrite" in proc.stdout
