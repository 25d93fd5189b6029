"""The README's "Your own data and runs" section, run as written: every `rqbench` command of its bash
blocks, in order, in an empty folder holding files this test writes (a BEIR-style dataset folder, qrels,
three run files, gzipped copies) and the section's own `mysuite.toml`."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

SECTION = ("## Your own data and runs", "\n## ")
N_QUERIES, N_DOCS = 12, 60
WORDS = ("retrieval", "dense", "passage", "query", "ranking", "neural", "lexical", "index", "vector",
         "encoder", "corpus", "relevance", "judged", "model", "training", "negative", "sample", "score",
         "cluster", "graph", "protein", "gene", "cell", "climate", "energy", "market")


def section_blocks(readme: str, language: str) -> list[str]:
    start = readme.index(SECTION[0])
    end = readme.find(SECTION[1], start + len(SECTION[0]))
    text = readme[start:end if end != -1 else None]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def write_dataset(root: Path) -> dict[str, dict[str, int]]:
    rng = random.Random(7)
    folder = root / "mydata"
    (folder / "qrels").mkdir(parents=True)
    docs = {f"d{i}": " ".join(rng.choice(WORDS) for _ in range(12)) for i in range(N_DOCS)}
    with (folder / "corpus.jsonl").open("w") as fh:
        for docid, text in docs.items():
            fh.write(json.dumps({"_id": docid, "title": "", "text": text}) + "\n")
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "queries.jsonl").open("w") as fh:
        for q in range(N_QUERIES):
            relevant = rng.sample(sorted(docs), 2)
            qrels[f"q{q}"] = {d: 1 for d in relevant}
            fh.write(json.dumps({"_id": f"q{q}", "text": " ".join(docs[relevant[0]].split()[:4])}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{r}" for q, j in qrels.items() for d, r in j.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    (root / "qrels.txt").write_text("".join(f"{q} 0 {d} {r}\n" for q, j in qrels.items() for d, r in j.items()))
    return qrels


def write_run(path: Path, qrels: dict[str, dict[str, int]], hit_rate: float, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for q, judged in qrels.items():
        ranking = rng.sample([f"d{i}" for i in range(N_DOCS)], 20)
        if rng.random() < hit_rate:
            relevant = sorted(judged)[0]
            if relevant in ranking:
                ranking.remove(relevant)
            ranking.insert(rng.randrange(3), relevant)
        lines += [f"{q} Q0 {d} {r} {100 - r} sys\n" for r, d in enumerate(ranking, start=1)]
    path.write_text("".join(lines))


@pytest.mark.slow
def test_readme_own_data_walkthrough(repo_root: Path, tmp_path: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    commands = [line.strip() for block in section_blocks(readme, "bash") for line in block.splitlines()
                if line.strip().startswith("rqbench ")]
    # the section's own suite: the toml block that is a whole suite (others show [[variants]] fragments)
    suites = [block for block in section_blocks(readme, "toml") if block.lstrip().startswith("[suite]")]
    assert len(commands) >= 8 and len(suites) == 1
    qrels = write_dataset(tmp_path)
    for name, rate, seed in (("bm25", 0.5, 1), ("dense", 0.9, 2), ("splade", 0.7, 3)):
        write_run(tmp_path / f"{name}.trec", qrels, rate, seed)
    for name in ("qrels.txt", "bm25.trec"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((tmp_path / name).read_bytes()))
    (tmp_path / "mysuite.toml").write_text(suites[0])

    env = {k: v for k, v in os.environ.items() if k not in {"RQBENCH_STORE", "RQBENCH_DATA"}}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr

    assert "\\toprule" in (tmp_path / "table.tex").read_text()
    assert (tmp_path / "comparison" / "report.md").is_file() and (tmp_path / "comparison" / "report.html").is_file()
    records = (tmp_path / "results" / "mysuite" / "records.jsonl").read_text().splitlines()
    assert sorted(json.loads(r)["variant"] for r in records) == ["bm25", "my-system"]
    assert (tmp_path / ".rqbench" / "store").is_dir()
    # `report --format csv` prints CSV and writes no report folder (files only with --out)
    assert not (tmp_path / "results" / "mysuite" / "report").exists()
