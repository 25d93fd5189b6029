"""The teacher is a role, not a model type: a calibrated fusion denoises RocketQA's hard negatives as a
cross-encoder does (`denoise_with` naming a fusion variant: a `judge` node reads its P(relevant) of the
miner's candidates), with real training of a tiny dual encoder; a fusion whose scores are not
probabilities is refused as a teacher."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import shuffled_top30
from rich.console import Console

from rqbench.artifacts import ArtifactStore
from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.runner import run_suite
from rqbench.suite import load_suite
from rqbench.training.tiny import make_tiny_bert
from rqbench.types import read_trec_run

SUITE = """
[suite]
name = "teacher-role"
dataset = "msmarco-dl19-mini"
split = "rest"
measures = ["nDCG@10"]

[[splits]]
name = "fit"
from = "test"
sample = 4
seed = 1

[[splits]]
name = "cal"
from = "test"
sample = 3
seed = 2
exclude = ["fit"]

[[splits]]
name = "rest"
from = "test"
exclude = ["fit", "cal"]

[[variants]]
name = "top50"
backend = "trec-run"
params = {{ path = "{{data_root}}/msmarco-dl19-mini/bm25.top50.trec" }}

[[variants]]
name = "other"
backend = "trec-run"
params = {{ path = "{{suite_dir}}/other.trec" }}

[[variants]]
name = "teacher"
backend = "fusion"
fuse = {{ runs = ["top50", "other"] }}
params = {{ method = "{method}", {fit} normalisation = "zscore" }}

[[variants]]
name = "md1"
backend = "dense"
params = {{ model = "{model}", max_query_length = 16, max_passage_length = 16 }}
[variants.train]
split = "fit"
mine_from = "top50"
mine_depth = 50
scan_depth = 10
negatives_per_positive = 1
denoise_with = "teacher"
denoise_threshold = 0.9
hard_negatives = 1
batch_size = 4
max_steps = 1
threads = 1
"""


def write(tmp_path: Path, data_root: Path, method: str = "calibrated") -> Path:
    """The suite and a second run to fuse with BM25's top 50 (`shuffled_top30`)."""
    shuffled_top30(data_root, tmp_path / "other.trec")
    model = make_tiny_bert(tmp_path / "tiny", seed=3)
    path = tmp_path / "teacher.toml"
    fit = 'fit_split = "cal",' if method == "calibrated" else ""
    path.write_text(SUITE.format(method=method, fit=fit, model=model), encoding="utf-8")
    return path


def test_a_calibrated_fusion_denoises_as_a_cross_encoder_does(tmp_path: Path, data_root: Path) -> None:
    path = write(tmp_path, data_root)
    records = run_suite(load_suite(path), store=ArtifactStore(tmp_path / "store"), results_root=tmp_path / "r",
                        data_root=data_root, console=Console(file=open("/dev/null", "w")))  # noqa: SIM115
    md1 = next(r for r in records if r["variant"] == "md1")
    roles = [s["role"] for s in md1["stages"]]
    assert "denoise_with:judge" in roles and "denoise_with:teacher:fuse" in roles

    store = tmp_path / "store"

    def folder(kind: str) -> Path:
        (h,) = [st["hash"] for st in md1["stages"] if st["kind"] == kind]
        return store / kind / h[:2] / h

    # the teacher's P(relevant) of the fit queries' candidates: its calibrated fusion on 'fit', fitted on 'cal'
    fuse_dirs = [p.parent for p in (store / "fuse").rglob("calibration.json")]
    (teacher_dir,) = [d for d in fuse_dirs if json.loads((d / "calibration.json").read_text())["split"] == "fit"]
    calibration = json.loads((teacher_dir / "calibration.json").read_text())
    cal_queries = next(iter(plan_suite(load_suite(path), data_root).datasets.values())).split_qrels("cal")
    assert calibration["fit_split"] == "cal" and calibration["model"]["fitted_queries"] == len(cal_queries) > 0
    teacher = {q: {h.docid: h.score for h in hits} for q, hits in read_trec_run(teacher_dir / "run.trec").items()}

    scores = {}
    for line in (folder("judge") / "scores.tsv").read_text().splitlines():
        q, d, logit = line.split("\t")
        scores.setdefault(q, {})[d] = float(logit)
    for q, docs in scores.items():  # sigmoid(logit) gives the teacher's probability back (0 if it lacks the doc)
        for d, logit in docs.items():
            assert 1 / (1 + math.exp(-logit)) == pytest.approx(teacher.get(q, {}).get(d, 0.0), abs=1e-9)

    # denoising kept, per query, the first scanned non-positive candidates the teacher gives P < 0.9
    # (the threshold is high because the small calibration set has a high base rate)
    audit = json.loads((folder("denoise") / "audit.json").read_text())
    assert audit["queries"] == 4 and audit["denoise"] is True
    assert audit["dropped"] > 0 and audit["kept"] > 0, audit  # the filter did something, and not everything
    top50 = read_trec_run(data_root / "msmarco-dl19-mini" / "bm25.top50.trec")
    qrels = {}
    for line in (data_root / "msmarco-dl19-mini" / "qrels.txt").read_text().split("\n"):
        if line.strip():
            q, _, d, rel = line.split()
            qrels.setdefault(q, {})[d] = int(rel)
    groups = [json.loads(x) for x in (folder("denoise") / "groups.jsonl").read_text().splitlines()]
    checked = 0
    for g in groups:
        q = g["query_id"]
        wanted = len(g["positives"])
        expect = [h.docid for h in top50[q][:10] if qrels[q].get(h.docid, 0) <= 0
                  and teacher.get(q, {}).get(h.docid, 0.0) < 0.9][:wanted]
        assert [n["id"] for n in g["negatives"]][:len(expect)] == expect
        checked += len(expect)
    assert checked > 0


def test_a_fusion_whose_scores_are_not_probabilities_is_refused_as_a_teacher(tmp_path: Path,
                                                                             data_root: Path) -> None:
    path = write(tmp_path, data_root, method="rrf")
    with pytest.raises(RqbenchError, match="fuses with method 'rrf', whose scores are not probabilities"):
        plan_suite(load_suite(path), data_root)
