"""Backends registered by another installed distribution through the `rqbench.backends` entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rqbench.backend import BackendInfo, build_params, capabilities, registry

PLUGIN = '''
from dataclasses import dataclass

@dataclass(frozen=True)
class EchoParams:
    depth: int = 3

class EchoRetriever:
    name = "echo"
    Params = EchoParams
    def __init__(self, params): self.params = params
    def describe(self): return {"echo": 1}
    def index(self, corpus, workdir): pass
    def search(self, index_dir, queries, k): return {}
'''


def make_distribution(site: Path) -> None:
    """A real installed distribution (dist-info with entry_points.txt), as pip would leave it."""
    (site / "echo_plugin.py").write_text(PLUGIN)
    info = site / "echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rqbench.backends]\necho = echo_plugin:EchoRetriever\n")


def test_entry_point_backend_is_listed_and_loadable(tmp_path: Path) -> None:
    make_distribution(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "rqbench.cli", "backends"], capture_output=True, text=True,
                         env=env, check=True, timeout=120)
    assert "echo" in out.stdout and "echo-plugin" in out.stdout and "retriever" in out.stdout
    assert "bm25" in out.stdout


def test_builtins_and_capabilities() -> None:
    found = registry()
    assert isinstance(found["bm25"], BackendInfo) and found["bm25"].origin == "built-in"
    from rqbench_backends.bm25 import BM25Backend
    from rqbench_backends.trec_run import TrecRunBackend

    assert capabilities(BM25Backend) == ["retriever"]
    assert capabilities(TrecRunBackend) == ["run"]  # imported as it is: nothing to index or search
    from rqbench_backends.dense import DenseBackend

    assert capabilities(DenseBackend) == ["retriever", "encoder", "trainable"]
    params = build_params(BM25Backend.Params, {"k1": 1, "rm3": True})
    assert isinstance(params.k1, float) and params.k1 == 1.0 and params.rm3 is True
