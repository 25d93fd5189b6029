"""Stages as submitit jobs: on Slurm (`cluster=slurm`), or as subprocesses of this machine (`cluster=local`,
the default, which is how the path is tested here). Options (`--executor-option KEY=VALUE`): `cluster`,
`gpus` (per job for the stages that run a model, default 0), and any of submitit's own parameters
(`timeout_min`, `mem_gb`, `slurm_partition`, `slurm_account`, ...), numbers given as numbers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rqbench.errors import RqbenchError
from rqbench.executors.errors import worker_error
from rqbench.executors.job import StageJob, raise_returned, resources_of, run_stage_job

CLUSTERS = ("local", "slurm", "debug")


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class SubmititExecutor:
    name = "submitit"

    def __init__(self, folder: str | Path, options: dict[str, str]):
        try:
            import submitit
        except ModuleNotFoundError:
            raise RqbenchError("the submitit executor needs submitit: pip install 'rqbench[executors]'") from None
        options = dict(options)
        cluster = options.pop("cluster", "local")
        if cluster not in CLUSTERS:
            raise RqbenchError(f"--executor-option cluster={cluster}: choose {', '.join(CLUSTERS)}")
        self.gpus = int(options.pop("gpus", "0"))
        self.cluster = cluster
        self._params = {key: _value(value) for key, value in options.items()}
        self._params.setdefault("timeout_min", 24 * 60)
        self._executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        self._lock = threading.Lock()  # parameters are set per job: set and submit together

    def run(self, job: StageJob, label: str) -> dict[str, Any]:
        res = resources_of(job.kind, self.gpus)
        with self._lock:
            try:
                self._executor.update_parameters(cpus_per_task=res["cpus"], gpus_per_node=res["gpus"],
                                                 name=f"rqbench-{job.kind}", **self._params)
            except (TypeError, ValueError) as exc:
                raise RqbenchError(f"--executor-option: {exc}") from None
            submitted = self._executor.submit(run_stage_job, job)
        try:
            return raise_returned(submitted.result())
        except RqbenchError:
            raise
        except Exception as exc:
            raise worker_error(exc, label, f"submitit ({self.cluster}) job {submitted.job_id}") from None

    def close(self) -> None:
        """Nothing to release: each job ended with its result."""
