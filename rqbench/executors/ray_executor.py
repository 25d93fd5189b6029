"""Stages as Ray tasks: on a running cluster (`address=auto` or ray://...), or on a local Ray instance this
process starts (no address; `num_cpus` caps it). Options: `address`, `num_cpus`, `gpus` (per task for the
stages that run a model, default 0). Workers are long-lived, so one plans each suite once."""

from __future__ import annotations

from typing import Any

from rqbench.errors import RqbenchError
from rqbench.executors.errors import worker_error
from rqbench.executors.job import StageJob, raise_returned, resources_of, run_stage_job


class RayExecutor:
    name = "ray"

    def __init__(self, options: dict[str, str]):
        try:
            import ray
        except ModuleNotFoundError:
            raise RqbenchError("the ray executor needs ray: pip install 'rqbench[executors]'") from None
        options = dict(options)
        self.gpus = int(options.pop("gpus", "0"))
        address = options.pop("address", None)
        num_cpus = options.pop("num_cpus", None)
        if options:
            raise RqbenchError(f"--executor-option {next(iter(options))}: the ray executor takes address, num_cpus, "
                               "gpus")
        self._started = not ray.is_initialized()
        if self._started:
            ray.init(address=address, num_cpus=int(num_cpus) if num_cpus else None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        self._task = ray.remote(run_stage_job)

    def run(self, job: StageJob, label: str) -> dict[str, Any]:
        import ray

        res = resources_of(job.kind, self.gpus)
        ref = self._task.options(num_cpus=res["cpus"], num_gpus=res["gpus"]).remote(job)
        try:
            return raise_returned(ray.get(ref))
        except RqbenchError:
            raise
        except Exception as exc:
            raise worker_error(exc, label, "ray") from None

    def close(self) -> None:
        import ray

        if self._started and ray.is_initialized():
            ray.shutdown()
