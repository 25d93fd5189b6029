"""rqbench: an evaluation and benchmarking harness for dense passage retrieval.

Importing this package loads no torch, JVM or faiss; heavy backends are imported on first use. The
notebook API (`rqbench.api`) is reachable from here: `rqbench.evaluate`, `rqbench.compare`,
`rqbench.drilldown`, `rqbench.leaderboard`, `rqbench.load_run`, `rqbench.load_qrels`.
"""

from typing import Any

__version__ = "0.1.0"

_API = ("evaluate", "compare", "drilldown", "leaderboard", "load_run", "load_qrels")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:  # imported on first use, so `import rqbench` stays light
        from rqbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'rqbench' has no attribute '{name}'")
