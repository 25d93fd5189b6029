"""Stages built elsewhere (issue "past one machine", item 2): the same small suite run with the thread executor,
as submitit jobs (its local cluster: real subprocesses, the path Slurm takes) and as Ray tasks (a real local
Ray instance of 2 CPUs) gives identical stage hashes, metrics and per-query values; a worker's error is one
line. Two BM25 variants (the JVM in every worker; one index shared) over TREC DL19-mini."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = """
[suite]
name = "executors"
dataset = "msmarco-dl19-mini"
measures = ["nDCG@10", "R@100"]

[[variants]]
name = "bm25"
backend = "bm25"

[[variants]]
name = "bm25-b"
backend = "bm25"
params = { k1 = 1.2, b = 0.75 }
"""


def _run(tmp_path: Path, data_root: Path, name: str, *options: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RQBENCH_DATA": str(data_root)}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", "run", str(tmp_path / "s.toml"), "--store",
                           str(tmp_path / f"store-{name}"), "--results", str(tmp_path / f"res-{name}"), *options],
                          capture_output=True, text=True, env=env, timeout=600)


def _records(tmp_path: Path, name: str) -> dict[str, dict]:
    lines = (tmp_path / f"res-{name}" / "executors" / "records.jsonl").read_text().splitlines()
    out = {}
    for record in map(json.loads, lines):
        per_query = json.loads((tmp_path / f"res-{name}" / "executors" / record["per_query_file"]).read_text())
        out[record["variant"]] = {"stages": [(s["kind"], s["hash"]) for s in record["stages"]],
                                  "metrics": record["metrics"], "per_query": per_query}
    return out


@pytest.fixture(scope="module")
def threads_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> tuple[Path, int]:
    """The suite run by the default thread executor: its folder and how many stages it built."""
    folder = tmp_path_factory.mktemp("threads")
    (folder / "s.toml").write_text(SUITE)
    local = _run(folder, data_root, "threads")
    assert local.returncode == 0, local.stderr[-2000:]
    return folder, sum(" built " in line for line in local.stdout.splitlines())


@pytest.mark.parametrize("executor,options", [("submitit", ["--executor-option", "cluster=local"]),
                                              ("ray", ["--executor-option", "num_cpus=2"])])
def test_a_suite_gives_the_same_stages_and_results_on_every_executor(threads_run: tuple[Path, int], data_root: Path,
                                                                      executor: str, options: list[str]) -> None:
    if importlib.util.find_spec(executor) is None:
        pytest.skip(f"{executor} is not installed (bash scripts/install.sh installs it)")
    folder, stages = threads_run
    done = _run(folder, data_root, executor, "--executor", executor, *options)
    assert done.returncode == 0, done.stderr[-2000:]
    assert stages == 5 and done.stdout.count(f"({executor})") == stages  # every stage went to the executor
    expected, got = _records(folder, "threads"), _records(folder, executor)
    assert got == expected and len(got) == 2
    if executor == "submitit":  # a second run finds every stage in the store: no job is submitted
        again = _run(folder, data_root, executor, "--executor", executor, *options)
        assert again.returncode == 0 and again.stdout.count(" cached ") == stages


def test_a_job_for_a_stage_the_worker_cannot_plan_is_one_line(tmp_path: Path, data_root: Path) -> None:
    """A worker that sees other data plans other hashes: the job says so instead of building something else."""
    from rqbench.errors import RqbenchError
    from rqbench.executors import StageJob, make_executor

    (tmp_path / "s.toml").write_text(SUITE)
    runner = make_executor("submitit", {"cluster": "local"}, tmp_path / "jobs")
    job = StageJob.of(tmp_path / "s.toml", data_root, tmp_path / "store", "0" * 64, "index", None)
    with pytest.raises(RqbenchError, match=r"stage 000000000000 is not in the plan of .*s\.toml here"):
        runner.run(job, "bm25")


def test_bad_executor_settings_are_one_line(tmp_path: Path, data_root: Path) -> None:
    from rqbench.errors import RqbenchError
    from rqbench.executors import make_executor, parse_options

    (tmp_path / "s.toml").write_text(SUITE)
    done = _run(tmp_path, data_root, "bad", "--executor", "slurmm")  # the CLI: one line, exit 2
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "rqbench: error: unknown executor 'slurmm' (choose from: ray, submitit, threads)")
    with pytest.raises(RqbenchError, match=r"--executor-option 'cluster': give KEY=VALUE, e\.g\. cluster=slurm"):
        parse_options(["cluster"])
    with pytest.raises(RqbenchError, match="--executor-option applies to the submitit and ray executors"):
        make_executor("threads", {"gpus": "1"}, tmp_path)
    with pytest.raises(RqbenchError, match="--executor-option cluster=slurmm: choose local, slurm, debug"):
        make_executor("submitit", {"cluster": "slurmm"}, tmp_path)
