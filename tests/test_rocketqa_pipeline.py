"""RocketQA's chain executed end to end on a small real dataset (SciFact: 48 training, 24 test and 30
unlabeled queries over ~250 passages) with tiny random BERTs: MD0 -> MC -> MD1 (denoised) -> MD2
(augmented) -> MC re-ranking, every stage real (torch training, faiss, the score/denoise/augment stages).
Thresholds sit at 0.5 because an untrained tiny cross-encoder scores near 0.5; what is checked is the
wiring, the invariants and the audits, not the quality. The cross-encoder scores the top 10 of each list
(denoising scan, augmentation, its audit, the re-ranking): every path runs, at half the pairs of a top 20."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import scifact_subset as subset

from rqbench.training.tiny import make_tiny_bert

pytestmark = pytest.mark.slow


SUITE = """
[suite]
name = "rocketqa-e2e"
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
rerank = {{ run_of = "md2", depth = 10 }}

[[variants]]
name = "md1"
backend = "dense"
params = {{ model = "{de}", max_query_length = 16, max_passage_length = 48, threads = 1 }}
[variants.train]
mine_from = "md0"
mine_depth = 100
scan_depth = 10
negatives_per_positive = 2
denoise_with = "mc"
denoise_threshold = 0.5
hard_negatives = 1
batch_size = 8
max_steps = 2
threads = 1

[[variants]]
name = "md2"
backend = "dense"
params = {{ model = "{de}", max_query_length = 16, max_passage_length = 48, threads = 1 }}
[variants.train]
mine_from = "md0"
mine_depth = 100
scan_depth = 10
negatives_per_positive = 2
denoise_with = "mc"
denoise_threshold = 0.5
augment_with = "mc"
augment_from = "md1"
augment_depth = 10
augment_positive = 0.5
augment_negative = 0.5
augment_audit_split = "test"
hard_negatives = 1
batch_size = 8
max_steps = 2
threads = 1
"""


def test_the_chain_runs_and_records_its_audits(tmp_path: Path, data_root: Path) -> None:
    data = subset(data_root, tmp_path / "data")
    de = make_tiny_bert(tmp_path / "de", seed=1)
    ce = make_tiny_bert(tmp_path / "ce", seed=2)
    suite = tmp_path / "rq.toml"
    suite.write_text(SUITE.format(data=data, de=de, ce=ce))
    out = subprocess.run([sys.executable, "-m", "rqbench.cli", "run", str(suite), "--json"], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    records = {r["variant"]: r for r in json.loads(out.stdout)}
    assert sorted(records) == ["mc[seed=1]", "md0[seed=1]", "md1[seed=1]", "md2[seed=1]"]
    md1, md2 = records["md1[seed=1]"], records["md2[seed=1]"]
    denoised = md1["audits"]["denoise"]
    assert denoised["queries"] == 48 and denoised["denoise"] is True
    assert sum(denoised["probability_histogram"]["counts"]) > 0
    assert md2["audits"]["denoise"] == denoised  # MD2 trains on MD1's very groups
    augmented = md2["audits"]["augment"]
    assert augmented["queries"] == 30 and augmented["labelled_groups"] == 48
    assert augmented["pseudo_labelled_groups"] == augmented["labelled"]
    # the same labeller on the (labelled) test split, not trained on: its precision measured against the qrels
    audited = md2["audits"]["augment_audit"]
    assert audited["split"] == "test" and audited["queries"] == 24 and "labels" in audited
    assert "labels" not in augmented  # the unlabeled split has nothing to check against

    store = tmp_path / ".rqbench" / "store"
    h = md2["artifact_hashes"]["augment"]
    folder = store / "augment" / h[:2] / h
    labels = (folder / "pseudo_labels.tsv").read_text().splitlines()
    copied = tmp_path / "results" / "rocketqa-e2e" / md2["pseudo_labels_file"]
    assert copied.read_text().splitlines() == labels  # beside the runs, for people holding labels
    assert labels[0] == "query_id\tdoc_id\tprobability\tlabel"
    assert sum(line.endswith("\tpositive") for line in labels) == augmented["labelled"]
    groups = [json.loads(line) for line in (folder / "groups.jsonl").read_text().splitlines()]
    assert len(groups) == 48 + augmented["labelled"]
    # no judged positive is ever a negative in the denoised groups, and kept negatives scored below 0.5
    d = md1["artifact_hashes"]["denoise"]
    audit = json.loads((store / "denoise" / d[:2] / d / "audit.json").read_text())
    assert all(r["probability"] is None or r["probability"] >= 0.5 for r in audit["dropped_sample"])
    qrels = {}
    for line in (data / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        q, doc, rel = line.split("\t")
        qrels.setdefault(q, {})[doc] = int(rel)
    for g in (json.loads(x) for x in (store / "denoise" / d[:2] / d / "groups.jsonl").read_text().splitlines()):
        assert not any(qrels[g["query_id"]].get(n["id"], 0) > 0 for n in g["negatives"])
        counts = audit["per_query"][g["query_id"]]  # two per positive, from the scan or filled from deeper
        assert counts["kept"] + counts["filled"] == len(g["negatives"]) == 2 * len(g["positives"])
    # MC re-ranks MD2's test run: the same documents in its top 100 as MD2
    assert records["mc[seed=1]"]["metrics"]["R@100"] == md2["metrics"]["R@100"]
