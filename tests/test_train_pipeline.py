"""Training stages inside a suite, end to end in real processes: BM25-mined hard negatives, in-batch and
cross-batch (2 torchrun processes) training, the checkpoint indexed and evaluated, everything cached."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.training.tiny import make_tiny_bert

# end to end training in real processes: minutes on 2 cores
pytestmark = pytest.mark.slow


def subset(data_root: Path, out: Path) -> Path:
    """A small real BEIR folder from SciFact: 48 train and 24 test queries, their positives, 150 others."""
    src = data_root / "scifact"
    rows = {split: (src / "qrels" / f"{split}.tsv").read_text().splitlines()[1:] for split in ("train", "test")}
    keep: dict[str, list[str]] = {}
    docs: set[str] = set()
    for split, n in (("train", 48), ("test", 24)):
        qids = sorted({r.split("\t")[0] for r in rows[split]})[:n]
        keep[split] = [r for r in rows[split] if r.split("\t")[0] in qids]
        docs |= {r.split("\t")[1] for r in keep[split]}
    corpus = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    others = [d["_id"] for d in corpus if d["_id"] not in docs]
    docs |= set(random.Random(0).sample(others, 150))
    out.mkdir()
    (out / "qrels").mkdir()
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus if d["_id"] in docs))
    qids = {r.split("\t")[0] for split in keep.values() for r in split}
    queries = [line for line in (src / "queries.jsonl").read_text().splitlines() if json.loads(line)["_id"] in qids]
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n")
    for split, lines in keep.items():
        (out / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n")
    return out


SUITE = """
[suite]
name = "train-e2e"
dataset = "{data}"
measures = ["RR@10", "nDCG@10"]
baseline = "bm25"
depth = 100
seed = 3

[[variants]]
name = "bm25"
backend = "bm25"

[[variants]]
name = "de-base"
backend = "dense"
params = {{ model = "{model}", max_query_length = 32, max_passage_length = 64, threads = 1 }}

[[variants]]
name = "de-inbatch"
backend = "dense"
params = {{ model = "{model}", max_query_length = 32, max_passage_length = 64, threads = 1 }}
train = {{ negatives = "in-batch", batch_size = 8, max_steps = 3, lr = 1e-3, threads = 1 }}

[[variants]]
name = "de-crossbatch"
backend = "dense"
params = {{ model = "{model}", max_query_length = 32, max_passage_length = 64, threads = 1 }}
train = {{ negatives = "cross-batch", nproc = 2, batch_size = 4, max_steps = 3, lr = 1e-3, threads = 1 }}

[[variants]]
name = "de-hardneg"
backend = "dense"
params = {{ model = "{model}", max_query_length = 32, max_passage_length = 64, threads = 1 }}
train = {{ hard_negatives = 1, mine_from = "bm25", mine_depth = 20, batch_size = 8, max_steps = 3, lr = 1e-3 }}
"""


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    root = tmp_path_factory.mktemp("train-e2e")
    data = subset(data_root, root / "data")
    model = make_tiny_bert(root / "tiny", seed=1)
    path = root / "suite.toml"
    path.write_text(SUITE.format(data=data, model=model))
    return path


def rq(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120"}, timeout=900)


def test_suite_trains_indexes_and_reuses(suite_file: Path) -> None:
    work = suite_file.parent
    first = rq("run", str(suite_file), "--json", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    records = {r["variant"]: r for r in json.loads(first.stdout)}
    for name in ("de-inbatch", "de-crossbatch", "de-hardneg"):
        rec = records[name]
        roles = [s["role"] for s in rec["stages"]]
        negatives = "mine" if name == "de-hardneg" else "groups"
        assert roles[-5:] == [negatives, "train", "index", "retrieve", "evaluate"], roles
        # the index was built from the trained checkpoint (its model input is the train node), not the start
        stages = {s["role"]: s for s in rec["stages"]}
        assert stages["index"]["inputs"] == {"model": stages["train"]["hash"]}
        assert rec["config"]["params"]["model"] == f"artifact:train/{stages['train']['hash']}/model"
    assert [s["role"] for s in records["de-hardneg"]["stages"]][:2] == ["mine_from:index", "mine_from:retrieve"]
    # the BM25 index is shared by the bm25 variant and the mining stage
    assert records["de-hardneg"]["artifact_hashes"]["mine"]
    hardneg = {s["role"]: s["hash"] for s in records["de-hardneg"]["stages"]}
    assert hardneg["mine_from:index"] == records["bm25"]["artifact_hashes"]["index"]
    store = work / ".rqbench" / "store"
    log = store / "train" / records["de-crossbatch"]["artifact_hashes"]["train"][:2] / \
        records["de-crossbatch"]["artifact_hashes"]["train"] / "train_log.jsonl"
    assert len(log.read_text().splitlines()) == 3  # three optimizer steps, logged by rank 0

    again = rq("run", str(suite_file), "--json", cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(s["cached"] for r in json.loads(again.stdout) for s in r["stages"])


def test_unknown_train_setting_is_one_line(suite_file: Path) -> None:
    bad = suite_file.with_name("bad.toml")
    bad.write_text(suite_file.read_text().replace("max_steps = 3, lr", "max_step = 3, lr", 1))
    out = rq("run", str(bad), cwd=suite_file.parent)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown parameter 'max_step'" in lines[0] and "did you mean 'max_steps'" in lines[0]


def test_cli_mine_then_train(tmp_path: Path, data_root: Path) -> None:
    """`rqbench mine` writes groups that `rqbench train` trains on. `mine` and the refused `train` run as
    processes (exit codes, one-line errors); the training itself runs the same Typer command in this
    process (torch and transformers are imported here already: a process of its own adds ~5 s of CPU for
    imports; tests/test_train_out.py runs `rqbench train` as a process to completion)."""
    from typer.testing import CliRunner

    from rqbench.cli import app

    mini = data_root / "msmarco-dl19-mini"
    groups = tmp_path / "groups.jsonl"
    out = rq("mine", str(mini / "bm25.top50.trec"), "--dataset", str(mini), "--split", "test",
             "--depth", "30", "--out", str(groups), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    qrels: dict[str, set[str]] = {}
    for line in (mini / "qrels.txt").read_text().splitlines():
        qid, _, docid, rel = line.split()
        if int(rel) > 0:
            qrels.setdefault(qid, set()).add(docid)
    rows = [json.loads(line) for line in groups.read_text().splitlines()]
    assert len(rows) == 10
    run: dict[str, list[str]] = {}
    for line in (mini / "bm25.top50.trec").read_text().splitlines():
        qid, _, docid, _rank, _, _ = line.split()
        run.setdefault(qid, []).append(docid)
    for row in rows:
        # the pool: the top 30 without the judged positives, in rank order (a judged positive is never a negative)
        top = run[row["query_id"]][:30]
        assert [n["id"] for n in row["negatives"]] == [d for d in top if d not in qrels[row["query_id"]]]
    model = make_tiny_bert(tmp_path / "tiny", seed=2)
    trained = CliRunner().invoke(app, ["train", "--groups", str(groups), "--out", str(tmp_path / "run"), "--quiet",
                                       "--set", f"model={model}", "--set", "max_steps=2", "--set", "batch_size=4",
                                       "--set", "hard_negatives_per_query=1", "--set", "max_passage_length=32"])
    assert trained.exit_code == 0, trained.output
    assert trained.stdout.strip() == str(tmp_path / "run" / "model")
    assert (tmp_path / "run" / "model" / "rqbench_encoder.json").is_file()
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 2
    bad = rq("train", "--groups", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert bad.returncode == 2 and "missing.jsonl: file not found" in bad.stderr


SEEDED = """
[suite]
name = "seeded-e2e"
dataset = "{data}"
measures = ["RR@10", "nDCG@10"]
baseline = "bm25"
depth = 100
seeds = [1, 2]

[[variants]]
name = "bm25"
backend = "bm25"

[[variants]]
name = "de"
backend = "dense"
params = {{ model = "{model}", max_query_length = 32, max_passage_length = 64, threads = 1 }}
train = {{ negatives = "in-batch", batch_size = 8, max_steps = 2, lr = 1e-3, threads = 1 }}

[[contrasts]]
name = "trained-vs-bm25"
a = "de"
b = "bm25"
claim = "the trained tiny encoder beats BM25"
"""


def test_seeded_arms_train_once_per_seed_and_records_name_arm_and_seed(suite_file: Path) -> None:
    """Runs in the fixture's folder at the first suite's depth, so its BM25 stages are the ones
    test_suite_trains_indexes_and_reuses stored (a second Pyserini start for the same run costs seconds
    and proves nothing here); run alone, it builds them itself."""
    work = suite_file.parent
    fixture = suite_file.read_text()
    data = fixture.split('dataset = "')[1].split('"')[0]
    model = fixture.split('model = "')[1].split('"')[0]
    seeded = work / "seeded.toml"
    seeded.write_text(SEEDED.format(data=data, model=model))
    out = rq("run", str(seeded), "--json", cwd=work)
    assert out.returncode == 0, out.stderr[-3000:]
    records = {r["variant"]: r for r in json.loads(out.stdout)}
    assert sorted(records) == ["bm25", "de[seed=1]", "de[seed=2]"]
    assert [(records[f"de[seed={s}]"]["arm"], records[f"de[seed={s}]"]["seed"]) for s in (1, 2)] == [
        ("de", 1), ("de", 2)]
    assert "arm" not in records["bm25"]
    assert records["de[seed=1]"]["artifact_hashes"]["train"] != records["de[seed=2]"]["artifact_hashes"]["train"]
    assert records["bm25"]["suite_contrasts"][0]["a"] == "de"
