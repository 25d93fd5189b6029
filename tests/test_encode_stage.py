"""Encoding as stages of its own (issue "past one machine", item 1): `encode_parts = N` plans N `encode` nodes
and one `embeddings` node, shared by every index of the same encoder and corpus (flat and HNSW here), and the
assembled embeddings are byte for byte those an index that encodes everything itself writes; so are its
results. A real (tiny, random) BERT over TREC DL19-mini's 1,033 passages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.plan import plan_suite
from rqbench.suite import load_suite
from rqbench.training.tiny import make_tiny_bert

SUITE = """
[suite]
name = "parts"
dataset = "msmarco-dl19-mini"
measures = ["nDCG@10", "R@100"]

[[variants]]
name = "whole"
backend = "dense"
params = {{ model = "{model}", max_passage_length = 32, precision = "fp32", threads = 1 }}

[[variants]]
name = "parts"
backend = "dense"
params = {{ model = "{model}", max_passage_length = 32, precision = "fp32", threads = 1, encode_parts = 3 }}

[[variants]]
name = "parts-hnsw"
backend = "dense"
[variants.params]
model = "{model}"
max_passage_length = 32
precision = "fp32"
threads = 1
encode_parts = 3
index = "hnsw"
"""


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parts")
    model = make_tiny_bert(folder / "tiny")
    (folder / "s.toml").write_text(SUITE.format(model=model))
    return folder / "s.toml"


def test_parts_are_planned_once_for_every_index_of_the_same_encoder(suite: Path, data_root: Path) -> None:
    plan = plan_suite(load_suite(suite), data_root)
    kinds = [node.kind.name for node in plan.nodes.values()]
    assert kinds.count("encode") == 3 and kinds.count("embeddings") == 1  # flat and hnsw share them
    assert kinds.count("index") == 3  # whole (encodes itself), parts (flat), parts-hnsw
    merged = next(n for n in plan.nodes.values() if n.kind.name == "embeddings")
    with_input = [n for n in plan.nodes.values() if n.kind.name == "index" and "embeddings" in n.inputs]
    assert len(with_input) == 2 and all(n.inputs["embeddings"].node is merged for n in with_input)


def test_parts_assemble_to_the_same_bytes_and_results(suite: Path, data_root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "RQBENCH_DATA": str(data_root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "rqbench.cli", "run", str(suite), "--store", str(tmp_path / "st"),
                           "--results", str(tmp_path / "res")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = {r["variant"]: r for r in map(json.loads, (tmp_path / "res" / "parts" / "records.jsonl").open())}
    index_of = {name: next(s["hash"] for s in r["stages"] if s["kind"] == "index") for name, r in records.items()}

    def vectors(name: str) -> bytes:
        digest = index_of[name]
        return (tmp_path / "st" / "index" / digest[:2] / digest / "embeddings" / "embeddings.f32").read_bytes()

    assert vectors("parts") == vectors("whole") == vectors("parts-hnsw")
    assert records["parts"]["metrics"] == records["whole"]["metrics"]
    built = [line for line in done.stdout.splitlines() if line.strip().startswith("encode")]
    assert len(built) == 3 and all(" built " in line for line in built)  # each part once, for both indexes
