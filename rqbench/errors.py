"""The exception types for user mistakes and environment faults: the CLI prints one line and exits with
the exception's `exit_code` (2 for a bad input, 3 for a filesystem or environment fault)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class RqbenchError(Exception):
    """A problem the user can fix (bad file, unknown name, ...). Never shown with a traceback."""

    exit_code = 2  # the process exit status the CLI maps this error to

    def __init__(self, problem: str, path: str | Path | None = None, line: int | None = None):
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return where + self.problem


class EnvironmentFault(RqbenchError):
    """A filesystem or environment fault (read-only store, a file where a folder is expected, disk full):
    one line naming the path and the OS error, exit 3 (never 1, the gate's regression code)."""

    exit_code = 3


class DataUnavailable(EnvironmentFault):
    """A dataset that cannot be read on this machine (its optional package is missing, or its files are not
    downloaded): `rqbench plan` plans on with provisional hashes, anything that needs the data stops here."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or a list of the valid ones."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if options and len(options) <= 12:
        return " (choose from: " + ", ".join(options) + ")"
    return ""
