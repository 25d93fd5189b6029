"""Run fusion (`rqbench.fusion`), the calibrated logistic fusion (`rqbench.calibration`) and `rqbench fuse`.

The small examples are checked against arithmetic written out here, not against values the code produced; the
calibrated fusion is fitted on half of TREC DL19's judged queries and judged on the other half."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.calibration import (
    CalibratedFusion,
    calibration_of,
    expected_calibration_error,
    fit_calibrated,
    reliability_table,
)
from rqbench.errors import RqbenchError
from rqbench.fusion import fuse_runs, normalise_scores
from rqbench.measures import evaluate, parse_measure
from rqbench.types import Qrels, Run, ScoredDoc, read_qrels, read_trec_run

# Run A ranks a > b > c; run B ranks b > d > a. q2 is answered by A only.
A: Run = {"q1": [ScoredDoc("a", 3.0), ScoredDoc("b", 2.0), ScoredDoc("c", 1.0)], "q2": [ScoredDoc("x", 5.0)]}
B: Run = {"q1": [ScoredDoc("b", 10.0), ScoredDoc("d", 6.0), ScoredDoc("a", 2.0)]}
NDCG10 = parse_measure("nDCG@10")


def scores(run: Run, qid: str = "q1") -> dict[str, float]:
    return {sd.docid: sd.score for sd in run[qid]}


def order(run: Run, qid: str = "q1") -> list[str]:
    return [sd.docid for sd in run[qid]]


def test_rrf_by_hand() -> None:
    fused = fuse_runs([A, B], "rrf")  # k = 60: 1 / (60 + rank)
    expected = {"a": 1 / 61 + 1 / 63, "b": 1 / 62 + 1 / 61, "c": 1 / 63, "d": 1 / 62}
    assert scores(fused) == pytest.approx(expected, abs=1e-15)
    assert order(fused) == ["b", "a", "d", "c"]
    assert scores(fuse_runs([A, B], "rrf", k=1)) == pytest.approx({"a": 1 / 2 + 1 / 4, "b": 1 / 3 + 1 / 2,
                                                                   "c": 1 / 4, "d": 1 / 3})
    assert scores(fused, "q2") == {"x": 1 / 61}  # the union of the queries: q2 from A alone


def test_combsum_combmnz_interpolate_minmax_by_hand() -> None:
    # minmax: A (3, 2, 1) -> a (3-1)/2 = 1, b 1/2, c 0; B (10, 6, 2) -> b (10-2)/8 = 1, d 4/8 = 1/2, a 0
    combsum = fuse_runs([A, B], "combsum")
    assert scores(combsum) == pytest.approx({"a": 1 + 0, "b": 0.5 + 1, "c": 0, "d": 0.5})  # missing: adds 0
    assert order(combsum) == ["b", "a", "d", "c"]
    combmnz = fuse_runs([A, B], "combmnz")  # times the runs that retrieved it: a 2, b 2, c 1, d 1
    assert scores(combmnz) == pytest.approx({"a": 1 * 2, "b": 1.5 * 2, "c": 0 * 1, "d": 0.5 * 1})
    interpolated = fuse_runs([A, B], "interpolate", weights=[0.3, 0.7])
    expected = {"a": 0.3 * 1 + 0.7 * 0, "b": 0.3 * 0.5 + 0.7 * 1, "c": 0.3 * 0, "d": 0.7 * 0.5}
    assert scores(interpolated) == pytest.approx(expected)
    assert order(interpolated) == ["b", "d", "a", "c"]  # 0.85, 0.35, 0.30, 0
    assert scores(fuse_runs([A, B], "max")) == pytest.approx({"a": 1, "b": 1, "c": 0, "d": 0.5})


def test_zscore_and_rank_normalisation_by_hand() -> None:
    # A: mean 2, population std sqrt((1 + 0 + 1) / 3); B: mean 6, std sqrt((16 + 0 + 16) / 3)
    sd_a, sd_b = math.sqrt(2 / 3), math.sqrt(32 / 3)
    assert normalise_scores(A["q1"], "zscore") == pytest.approx({"a": 1 / sd_a, "b": 0, "c": -1 / sd_a})
    fused = fuse_runs([A, B], "combsum", normalisation="zscore")
    assert scores(fused) == pytest.approx({"a": 1 / sd_a - 4 / sd_b, "b": 0 + 4 / sd_b, "c": -1 / sd_a, "d": 0},
                                          abs=1e-12)
    assert normalise_scores([ScoredDoc("p", 4.0), ScoredDoc("q", 4.0)], "zscore") == {"p": 0.0, "q": 0.0}
    assert normalise_scores([ScoredDoc("p", 4.0), ScoredDoc("q", 4.0)], "minmax") == {"p": 0.0, "q": 0.0}
    assert normalise_scores(B["q1"], "rank") == {"b": 1.0, "d": 1 / 2, "a": 1 / 3}
    assert scores(fuse_runs([A, B], "combsum", normalisation="rank")) == pytest.approx(
        {"a": 1 + 1 / 3, "b": 1 / 2 + 1, "c": 1 / 3, "d": 1 / 2})


def test_ties_are_ordered_by_docid_descending_whatever_the_run_order() -> None:
    left: Run = {"q": [ScoredDoc("x", 1.0), ScoredDoc("y", 0.0)]}
    right: Run = {"q": [ScoredDoc("y", 1.0), ScoredDoc("x", 0.0)]}
    for method in ("rrf", "combsum", "combmnz"):
        one, other = fuse_runs([left, right], method), fuse_runs([right, left], method)
        assert one == other and order(one, "q") == ["y", "x"]  # x and y tie exactly: docid descending
        assert one["q"][0].score == one["q"][1].score


def test_depth_cuts_each_run_first_and_the_result() -> None:
    fused = fuse_runs([A, B], "rrf", depth=2)  # A -> a, b; B -> b, d: a loses B's rank-3 term
    assert scores(fused) == pytest.approx({"b": 1 / 62 + 1 / 61, "a": 1 / 61}, abs=1e-15)
    assert order(fuse_runs([A, B], "rrf", depth=1)) == ["b"]  # a and b both 1/61: b (docid descending)


def test_a_missing_document_contributes_nothing() -> None:
    only_a: Run = {"q1": [ScoredDoc("c", 1.0), ScoredDoc("e", 0.0)]}
    fused = fuse_runs([A, only_a], "interpolate", weights=[0.5, 2.0])
    # c: 0.5 * 0 (A's minimum) + 2.0 * 1; e: A did not retrieve it, so 2.0 * 0 only; a: 0.5 * 1, nothing from only_a
    assert scores(fused) == pytest.approx({"a": 0.5, "b": 0.25, "c": 2.0, "e": 0.0})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "rrff"}, "did you mean 'rrf'"),
    ({"method": "rrf", "k": 0}, "k must be"),
    ({"method": "rrf", "k": -5}, "k must be"),
    ({"method": "interpolate", "weights": [1.0]}, "1 weight(s) for 2 runs"),
    ({"method": "interpolate", "weights": [1.0, math.nan]}, "not a finite number"),
    ({"method": "interpolate", "weights": [math.inf, 1.0]}, "not a finite number"),
    ({"method": "interpolate"}, "needs weights"),
    ({"method": "combsum", "weights": [1.0, 1.0]}, "interpolate only"),
    ({"method": "combsum", "normalisation": "minmx"}, "did you mean 'minmax'"),
    ({"method": "rrf", "depth": 0}, "depth must be"),
])
def test_bad_arguments_are_one_line_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(RqbenchError) as info:
        fuse_runs([A, B], **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_ece_and_reliability_table_by_hand() -> None:
    probs, labels = [0.05, 0.15, 0.15, 0.85, 0.95], [0, 0, 1, 1, 1]
    # bins of 0.1: [0, .1) holds 0.05 (label 0), [.1, .2) 0.15 twice (rate 1/2), [.8, .9) 0.85, [.9, 1] 0.95
    expected = (1 * abs(0.05 - 0) + 2 * abs(0.15 - 0.5) + 1 * abs(0.85 - 1) + 1 * abs(0.95 - 1)) / 5  # 0.19
    assert expected_calibration_error(probs, labels) == pytest.approx(expected) == pytest.approx(0.19)
    table = reliability_table(probs, labels)
    assert [row["count"] for row in table] == [1, 2, 0, 0, 0, 0, 0, 0, 1, 1]
    assert table[1] == pytest.approx({"lo": 0.1, "hi": 0.2, "count": 2, "mean_predicted": 0.15, "observed_rate": 0.5})
    assert table[2]["mean_predicted"] is None
    assert expected_calibration_error([1.0, 0.0], [1, 0], bins=4) == 0.0  # 1.0 falls in the last bin
    with pytest.raises(RqbenchError, match="not a probability"):
        expected_calibration_error([1.5], [1])


@pytest.fixture(scope="module")
def dl19(data_root: Path) -> dict:
    folder = data_root / "msmarco-dl19"
    qrels = read_qrels(folder / "qrels.dl19.txt")
    fit_half = set(random.Random(0).sample(sorted(qrels), len(qrels) // 2))
    return {"folder": folder, "qrels": qrels,
            "bm25": read_trec_run(folder / "runs" / "bm25.dl19.trec"),
            "tasb": read_trec_run(folder / "runs" / "d-bert-kd-tasb.dl19.trec"),
            "fit": {q: j for q, j in qrels.items() if q in fit_half},
            "held": {q: j for q, j in qrels.items() if q not in fit_half}}


def ndcg10(run: Run, qrels: Qrels) -> float:
    return evaluate({q: docs for q, docs in run.items() if q in qrels}, qrels, [NDCG10]).aggregate["nDCG@10"]


def test_calibrated_fusion_on_held_out_dl19_queries(dl19: dict) -> None:
    members = [dl19["bm25"], dl19["tasb"]]
    model = fit_calibrated(members, dl19["fit"])
    assert model.fitted_queries == len(dl19["fit"]) == 21 and model.members == 2 and len(model.coefficients) == 4
    fused = model.apply(members)
    held = dl19["held"]
    calibrated = calibration_of(fused, held)
    assert calibrated["queries"] == 22
    for member in members:  # a naive probability: the member's minmax-normalised score
        naive = {q: [ScoredDoc(d, p) for d, p in normalise_scores(docs, "minmax").items()]
                 for q, docs in member.items()}
        assert calibrated["ece"] < calibration_of(naive, held)["ece"]
    assert ndcg10(fused, held) >= min(ndcg10(dl19["bm25"], held), ndcg10(dl19["tasb"], held))
    assert all(0 < sd.score < 1 for docs in fused.values() for sd in docs)

    again = CalibratedFusion.from_json(model.to_json())
    assert again == model and again.apply(members) == fused  # identical scores, not approximately


def test_calibrated_fit_refusals(dl19: dict) -> None:
    members = [dl19["bm25"], dl19["tasb"]]
    with pytest.raises(RqbenchError, match="no query is both judged"):
        fit_calibrated(members, {"nope": {"d": 1}})
    with pytest.raises(RqbenchError, match="no relevant"):
        fit_calibrated(members, {q: {} for q in dl19["fit"]})  # nothing judged relevant
    with pytest.raises(RqbenchError, match="fitted on 2 runs"):
        CalibratedFusion.from_json(fit_calibrated(members, dl19["fit"], depth=10).to_json()).apply(members[:1])
    with pytest.raises(RqbenchError, match="schema"):
        CalibratedFusion.from_json(json.dumps({"kind": "rqbench-calibrated-fusion", "schema": 99}))


def fuse_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rqbench.cli", "fuse", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_cli_rrf_writes_what_the_library_fuses(dl19: dict, tmp_path: Path) -> None:
    runs = [dl19["folder"] / "runs" / name for name in ("bm25.dl19.trec", "d-bert-kd-tasb.dl19.trec")]
    proc = fuse_cli(*runs, "--out", tmp_path / "rrf.trec")
    assert proc.returncode == 0, proc.stderr
    written = read_trec_run(tmp_path / "rrf.trec")
    in_process = fuse_runs([dl19["bm25"], dl19["tasb"]], "rrf")
    assert written == in_process
    assert ndcg10(written, dl19["qrels"]) == ndcg10(in_process, dl19["qrels"]) > ndcg10(dl19["bm25"], dl19["qrels"])

    bad = fuse_cli(*runs, "--method", "rfr", "--out", tmp_path / "bad.trec")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["rqbench: error: unknown --method 'rfr' (did you mean 'rrf'?)"]
    assert not (tmp_path / "bad.trec").exists()


def test_cli_calibrated_fit_save_then_apply_gives_the_same_file(dl19: dict, tmp_path: Path) -> None:
    runs = [dl19["folder"] / "runs" / name for name in ("bm25.dl19.trec", "d-bert-kd-tasb.dl19.trec")]
    fit = fuse_cli(*runs, "--method", "calibrated", "--fit-qrels", dl19["folder"] / "qrels.dl19.txt",
                   "--save-model", tmp_path / "model.json", "--depth", "50", "--out", tmp_path / "fit.trec")
    assert fit.returncode == 0, fit.stderr
    [line] = fit.stderr.strip().splitlines()
    assert "fitted on 43 queries" in line and "in-sample" in line and "ECE" in line
    model = CalibratedFusion.from_json((tmp_path / "model.json").read_text())
    assert model.depth == 50 and model.fitted_queries == 43
    applied = fuse_cli(*runs, "--method", "calibrated", "--model", tmp_path / "model.json",
                       "--out", tmp_path / "applied.trec")
    assert applied.returncode == 0 and applied.stderr == "", applied.stderr
    assert (tmp_path / "applied.trec").read_bytes() == (tmp_path / "fit.trec").read_bytes()
    assert max(len(docs) for docs in read_trec_run(tmp_path / "applied.trec").values()) == 50
