"""A worker's failure, as one line: a user mistake stays a user mistake (exit 2), anything else is an
environment fault (exit 3) naming the stage and the worker's last line."""

from __future__ import annotations

from rqbench.errors import EnvironmentFault, RqbenchError


def worker_error(exc: BaseException, label: str, where: str) -> RqbenchError:
    cause: BaseException | None = exc
    while cause is not None:  # Ray wraps the task's exception (`.cause`); submitit re-raises it
        if isinstance(cause, RqbenchError):
            return cause
        cause = getattr(cause, "cause", None) or cause.__cause__
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else type(exc).__name__
    return EnvironmentFault(f"stage {label} failed on {where}: {last}")
