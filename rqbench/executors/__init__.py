"""Where a planned graph's stages run: in this process's threads (the default), as jobs on Slurm through
submitit (its local executor runs the same jobs as subprocesses of this machine), or as Ray tasks.

A job carries no model, dataset or node object, only names (`StageJob`): the suite file, the data root,
the store and the stage's hash. The worker plans the suite again (planning is deterministic: the same hash
names the same node), builds that one stage into the shared store as the thread executor would, and
returns where it is. So the store must be reachable from every worker (a shared filesystem on a cluster),
and workers see the same data root. Resources per stage kind (`resources_of`): a GPU for the stages that
run a neural model (train, index of a dense model, score, ...) when the run asks for GPUs, CPUs otherwise.

    rqbench run SUITE --executor submitit --executor-option cluster=slurm --executor-option partition=gpu
    rqbench run SUITE --executor ray --executor-option address=auto
"""

from __future__ import annotations

from typing import Any

from rqbench.errors import RqbenchError, did_you_mean
from rqbench.executors.job import StageJob, resources_of, run_stage_job

EXECUTORS = ("threads", "submitit", "ray")

__all__ = ["EXECUTORS", "StageJob", "make_executor", "resources_of", "run_stage_job"]


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """KEY=VALUE strings -> a dict; a malformed one is one line."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise RqbenchError(f"--executor-option '{pair}': give KEY=VALUE, e.g. cluster=slurm")
        options[key.strip()] = value.strip()
    return options


def make_executor(name: str, options: dict[str, str], folder: Any) -> Any:
    """The executor `name` ("threads": None, the in-process default), with its options; `folder` is where a
    job executor keeps its logs and pickles."""
    if name not in EXECUTORS:
        raise RqbenchError(f"unknown executor '{name}'" + did_you_mean(name, EXECUTORS))
    if name == "threads":
        if options:
            raise RqbenchError("--executor-option applies to the submitit and ray executors")
        return None
    if name == "submitit":
        from rqbench.executors.submitit_executor import SubmititExecutor

        return SubmititExecutor(folder, options)
    from rqbench.executors.ray_executor import RayExecutor

    return RayExecutor(options)
