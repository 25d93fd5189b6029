"""RocketQAv2's joint training executed end to end from a suite on a small real dataset (SciFact: 48 training
and 24 test queries over ~250 passages) with tiny random BERTs: MD0 and MC are trained, the joint run starts
its retriever from MD0 and its re-ranker from MC, trains on hybrid lists (2 undenoised negatives from MD0's
top 30 and 1 that MC scored below 0.5 per list), and one train node serves both later stages: the dense
variant indexes with `retriever/`, a cross-encoder variant (`model_from`) re-ranks with `reranker/`. Every
stage is real (torch training, faiss, scoring); what is checked is the wiring, not the quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import scifact_subset

from rqbench.training.tiny import make_tiny_bert

pytestmark = pytest.mark.slow

SUITE = """
[suite]
name = "v2-e2e"
dataset = "{data}"
measures = ["RR@10", "R@100"]
baseline = "md0"
depth = 100
seeds = [1]

[[variants]]
name = "md0"
backend = "dense"
params = {{ model = "{de}", max_query_length = 16, max_passage_length = 48, threads = 1 }}
train = {{ batch_size = 8, max_steps = 2, lr = 1e-3, threads = 1 }}

[[variants]]
name = "mc"
backend = "cross-encoder"
params = {{ model = "{ce}", max_length = 64, threads = 1 }}
train = {{ mine_from = "md0", mine_depth = 100, hard_negatives = 2, batch_size = 4, max_steps = 2, threads = 1 }}
rerank = {{ run_of = "md0", depth = 10 }}

[[variants]]
name = "v2"
backend = "dense"
params = {{ model = "{de}", max_query_length = 16, max_passage_length = 48, threads = 1 }}
[variants.train]
task = "joint"
init_from = "md0"
reranker_from = "mc"
mine_from = "md0"
mine_depth = 50
scan_depth = 10
negatives_per_positive = 2
denoise_with = "mc"
denoise_threshold = 0.5
hybrid_undenoised = 2
hybrid_denoised = 1
hybrid_depth = 30
augment_with = "mc"
augment_from = "md0"
augment_depth = 10
augment_negatives = 3
hard_negatives = 3
max_length = 64
batch_size = 4
max_steps = 2
lr = 1e-3
threads = 1

[[variants]]
name = "v2-reranker"
backend = "cross-encoder"
params = {{ model = "{ce}", max_length = 64, threads = 1 }}
model_from = "v2"
rerank = {{ run_of = "v2", depth = 10 }}
"""


def weights(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*.safetensors")))


def test_one_joint_run_serves_a_retriever_and_a_reranker(tmp_path: Path, data_root: Path) -> None:
    data = scifact_subset(data_root, tmp_path / "data")
    de = make_tiny_bert(tmp_path / "de", seed=1)
    ce = make_tiny_bert(tmp_path / "ce", seed=2)
    suite = tmp_path / "v2.toml"
    suite.write_text(SUITE.format(data=data, de=de, ce=ce))
    out = subprocess.run([sys.executable, "-m", "rqbench.cli", "run", str(suite), "--json"], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    records = {r["variant"]: r for r in json.loads(out.stdout)}
    assert sorted(records) == ["mc[seed=1]", "md0[seed=1]", "v2-reranker[seed=1]", "v2[seed=1]"]
    v2, reranker = records["v2[seed=1]"], records["v2-reranker[seed=1]"]
    assert "joint listwise distillation" in out.stderr
    hybrid = v2["audits"]["hybrid"]  # 48 lists of 1 positive + 3 negatives, the mix counted
    assert hybrid["lists"] == 48 and hybrid["negatives_per_list"] == 3
    assert hybrid["short"] == 0 and hybrid["from_undenoised"] + hybrid["from_denoised"] == 3 * 48
    assert hybrid["from_denoised"] <= 48 <= hybrid["from_undenoised"]  # 1 and 2 per list, unless filled
    # RocketQAv2's 'aug' lists: the unlabeled queries MC labels are appended to the hybrid lists (not to raw groups)
    augment = v2["audits"]["augment"]
    assert (augment["split"], augment["labelled_groups"]) == ("unlabeled", 48), augment
    roles = {s["role"]: s for s in v2["stages"]}
    assert roles["train"]["inputs"]["groups"] == roles["augment"]["hash"]
    assert roles["augment"]["inputs"]["groups"] == roles["hybrid"]["hash"]

    store = tmp_path / ".rqbench" / "store"

    def trained(record: dict) -> Path:
        h = record["artifact_hashes"]["train"]
        return store / "train" / h[:2] / h

    joint = trained(v2)
    # one train node for both models: the re-ranker's score stage reads the joint run's checkpoint
    score = next(s for s in reranker["stages"] if s["role"] == "score")
    assert score["inputs"]["model"] == v2["artifact_hashes"]["train"]
    assert "train" not in reranker["artifact_hashes"] and reranker["config"]["model_from"] == "v2"
    # each record names the folder of the checkpoint it read
    assert v2["config"]["params"]["model"] == f"artifact:train/{v2['artifact_hashes']['train']}/retriever"
    assert reranker["config"]["params"]["model"] == f"artifact:train/{v2['artifact_hashes']['train']}/reranker"
    assert (joint / "retriever").is_dir() and (joint / "reranker").is_dir()
    # both started from the trained MD0 and MC, and both moved: the joint run trained them
    assert weights(joint / "retriever") != weights(trained(records["md0[seed=1]"]) / "model")
    assert weights(joint / "reranker") != weights(trained(records["mc[seed=1]"]) / "model")
    # the re-ranker re-orders v2's own top 10: the same passages by rank 100
    assert reranker["metrics"]["R@100"] == v2["metrics"]["R@100"]

    # the joint training's shape and cost ride in its record: 4 lists of K = 4 a step, 2 steps, peak memory
    cost = next(s for s in v2["stages"] if s["role"] == "train")["training"]
    assert (cost["task"], cost["candidates"], cost["batch_size"], cost["steps"]) == ("joint", 4, 4, 2)
    assert cost["peak_rss_mib"] >= cost["start_rss_mib"] > 0
    # and in the report's training cost table, one row per training (MD0, MC, the joint run)
    report = subprocess.run([sys.executable, "-m", "rqbench.cli", "report", str(suite), "--results",
                             str(tmp_path / "results"), "--format", "markdown"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"}, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    table = report.stdout.split("## Training cost")[1].split("##")[0]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in table.splitlines()[4:] if line.startswith("|")]
    assert [row[:6] for row in rows] == [["md0", "1", "dual-encoder", "1", "8", "2"],
                                         ["mc", "1", "cross-encoder", "3", "4", "2"],
                                         ["v2", "1", "joint", "4", "4", "2"]], table
