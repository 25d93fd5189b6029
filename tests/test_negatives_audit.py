"""The audit of mined hard negatives (`rqbench.negatives_audit`, `rqbench audit-negatives`): counts worked out by
hand on a tiny example, the seeded choice of kept positives, the teacher's removal rule (P >= threshold, no score
= P 0) and its threshold curve, one-line errors, one audit on TREC DL19, and the command line (two calls)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.negatives_audit import audit_negatives, kept_positives, markdown_tables
from rqbench.types import ScoredDoc, read_qrels, read_trec_run

# q1 judges a:2 b:1 c:0 d:2 e:1; q2 judges x:1 y:0; q3 judges z:0 only.
QRELS = {"q1": {"a": 2, "b": 1, "c": 0, "d": 2, "e": 1}, "q2": {"x": 1, "y": 0}, "q3": {"z": 0}}
# q1 ranks a f b c d g e (f, g unjudged); q2 ranks y w x (w unjudged); q3 is not retrieved for.
RUN = {"q1": [ScoredDoc(d, s) for d, s in zip("afbcdge", (9, 8, 7, 6, 5, 4, 3), strict=True)],
       "q2": [ScoredDoc("y", 3), ScoredDoc("w", 2), ScoredDoc("x", 1)]}
# The teacher scores a, f, c of q1 (not d) and both y and w of q2 (w exactly at RocketQA's 0.1).
TEACHER = {"q1": {"a": 0.95, "f": 0.2, "c": 0.05}, "q2": {"y": 0.5, "w": 0.1}}


def test_counts_worked_out_by_hand() -> None:
    # rel 1: q1's relevant are a b d e; random.Random("0:q1").sample(["a", "b", "d", "e"], 1) == ["b"]: b is kept,
    # a d e hidden. Top 5 = a f b c d, minus the kept b: candidates a (hidden, grade 2), f (unjudged), c (judged 0),
    # d (hidden, grade 2); e is hidden but ranked 7th, beyond depth 5.
    # q2's only relevant passage x is kept: candidates y (judged 0) and w (unjudged), no hidden positive.
    # q3 has no relevant passage: not audited.
    audit = audit_negatives(RUN, QRELS, depth=5, keep=1, rel=1, seed=0, teachers={"t": TEACHER})
    assert audit["queries"] == 2 and audit["queries_without_relevant"] == 1 and audit["unanswered"] == 0
    assert audit["per_query"]["q1"] == {"kept": ["b"], "hidden": 3, "candidates": 4, "hidden_positive": 2,
                                        "judged_nonrelevant": 1, "unjudged": 1}
    assert audit["per_query"]["q2"] == {"kept": ["x"], "hidden": 0, "candidates": 2, "hidden_positive": 0,
                                        "judged_nonrelevant": 1, "unjudged": 1}
    t = audit["totals"]
    assert (t["candidates"], t["hidden_positives"], t["judged_nonrelevant"], t["unjudged"]) == (6, 2, 2, 2)
    assert t["fn_rate"] == pytest.approx(2 / 6) and t["queries_with_fn"] == 1 and t["share_queries_with_fn"] == 0.5
    assert t["hidden_total"] == 3 and t["hidden_reached"] == pytest.approx(2 / 3)  # e was not reached
    assert t["hidden_by_grade"] == {"2": 2} and t["judged_nonrelevant_by_grade"] == {"0": 2}

    # Teacher at 0.1: removes a (0.95, hidden), f (0.2, unjudged), y (0.5, judged 0) and w (0.1: >= counts).
    # c (0.05) stays; d has no score, so P = 0: it stays, one unscored candidate that is a hidden positive.
    # precision 1/4, recall 1/2 (a of a, d); left: c and d, of which d is hidden: FN rate after 1/2.
    r = audit["teachers"]["t"]
    assert (r["removed"], r["removed_hidden"], r["removed_judged_nonrelevant"], r["removed_unjudged"]) == (4, 1, 1, 2)
    assert (r["precision"], r["recall"], r["fn_rate_after"]) == (0.25, 0.5, 0.5)
    assert (r["unscored"], r["unscored_hidden"], r["queries_scored"]) == (1, 1, 2)
    assert r["per_query"] == {"q1": {"removed": 2, "removed_hidden": 1, "unscored": 1},
                              "q2": {"removed": 2, "removed_hidden": 0, "unscored": 0}}
    # The curve: 0.3 and 0.5 remove a and y (y's 0.5 >= 0.5): 1/2 precise, recall 1/2; 0.7 and 0.9 remove a only.
    curve = {c["threshold"]: (c["removed"], c["removed_hidden"], c["precision"], c["recall"]) for c in r["curve"]}
    assert curve == {0.1: (4, 1, 0.25, 0.5), 0.3: (2, 1, 0.5, 0.5), 0.5: (2, 1, 0.5, 0.5), 0.7: (1, 1, 1.0, 0.5),
                     0.9: (1, 1, 1.0, 0.5)}
    table = markdown_tables([("run", audit)])
    assert "| run | 2 | 6 | 2 | 0.333 | 1/2 | 2 | 2 | 2/3 |" in table
    assert "| run | t | 4 | 1 | 0.250 | 0.500 | 1 | 2 | 1 (1) | 0.500 |" in table


def test_rel_2_counts_grade_1_as_judged_nonrelevant() -> None:
    # rel 2: q1's relevant are a d; random.Random("0:q1").sample(["a", "d"], 1) == ["a"]: d is hidden.
    # Top 5 minus a: f (unjudged), b (grade 1: judged non-relevant at rel 2), c (judged 0), d (hidden).
    # q2 and q3 have nothing graded 2: not audited.
    audit = audit_negatives(RUN, QRELS, depth=5, rel=2)
    t = audit["totals"]
    assert audit["queries"] == 1 and audit["queries_without_relevant"] == 2
    assert (t["candidates"], t["hidden_positives"], t["judged_nonrelevant"], t["unjudged"]) == (4, 1, 2, 1)
    assert t["judged_nonrelevant_by_grade"] == {"0": 1, "1": 1} and audit["teachers"] == {}


def test_kept_choice_is_seeded_and_order_free() -> None:
    ids = ["d", "a", "e", "b"]
    assert kept_positives(ids, "q1", 1, 0) == ["b"] == kept_positives(sorted(ids, reverse=True), "q1", 1, 0)
    assert kept_positives(ids, "q1", 1, 1) == ["a"]  # random.Random("1:q1").sample(["a", "b", "d", "e"], 1)
    assert kept_positives(ids, "q1", 2, 0) == sorted(random.Random("0:q1").sample(sorted(ids), 2))
    assert kept_positives(ids, "q1", 9, 0) == ["a", "b", "d", "e"]  # fewer than asked: all kept, none hidden
    first = audit_negatives(RUN, QRELS, depth=5, seed=3)
    assert first == audit_negatives(dict(reversed(RUN.items())), QRELS, depth=5, seed=3)


def test_misuse_is_one_line() -> None:
    cases = [
        (dict(depth=0), "depth must be a whole number of at least 1"),
        (dict(keep=-1), "keep must be"),
        (dict(threshold=0), "threshold must be above 0"),
        (dict(teachers={"t": {"q1": {"a": 1.5}}}), "teacher 't': score 1.5 (query 'q1', document 'a') is not a "
                                                    "probability"),
        (dict(teachers={"t": {"other": {"a": 0.5}}}), "teacher 't' scores none of the 2 audited queries"),
    ]
    for kwargs, message in cases:
        with pytest.raises(RqbenchError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
            audit_negatives(RUN, QRELS, **kwargs)
        assert "\n" not in str(caught.value)
    with pytest.raises(RqbenchError, match="the run answers none of them"):
        audit_negatives({"Q1": RUN["q1"]}, QRELS)


def test_dl19_published_miner_and_a_calibrated_teacher(data_root: Path) -> None:
    from rqbench.calibration import fit_calibrated

    folder = data_root / "msmarco-dl19"
    qrels = read_qrels(folder / "qrels.dl19.txt")
    runs = {name: read_trec_run(folder / "runs" / f"{name}.dl19.trec")
            for name in ("bm25", "d-bert-kd-tasb", "splade-p-p-ensemble-distil")}
    fit_qids = set(random.Random(0).sample(sorted(qrels), len(qrels) // 2))
    fit_half = {q: j for q, j in qrels.items() if q in fit_qids}
    audit_half = {q: j for q, j in qrels.items() if q not in fit_qids}
    members = [runs["bm25"], runs["d-bert-kd-tasb"]]
    fit = fit_calibrated(members, fit_half, rel=2)
    teacher_run = fit.apply([{q: r for q, r in run.items() if q in audit_half} for run in members])
    assert set(teacher_run) == set(audit_half)  # the teacher never saw the audited queries' labels
    teacher = {q: {sd.docid: sd.score for sd in docs} for q, docs in teacher_run.items()}
    audit = audit_negatives(runs["splade-p-p-ensemble-distil"], audit_half, depth=50, rel=2,
                            teachers={"bm25+tasb": teacher})
    t = audit["totals"]
    assert audit["queries"] == len(audit_half) == 22  # every DL19 query has a passage graded >= 2
    assert t["candidates"] == t["hidden_positives"] + t["judged_nonrelevant"] + t["unjudged"]
    assert 22 * 49 <= t["candidates"] <= 22 * 50  # 50 per query, less the kept passage where it is in the top 50
    assert t["fn_rate"] > 0.2 and t["queries_with_fn"] >= 20  # DL19's dense judgments: many mined "negatives"
    r = audit["teachers"]["bm25+tasb"]
    assert r["removed"] == r["removed_hidden"] + r["removed_judged_nonrelevant"] + r["removed_unjudged"]
    recalls = [c["recall"] for c in r["curve"]]
    assert recalls == sorted(recalls, reverse=True)  # a higher threshold removes a subset
    strict = r["curve"][-1]
    assert strict["threshold"] == 0.9 and strict["precision"] > t["fn_rate"]  # better than removing at random


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rqbench.cli", "audit-negatives", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "80"})


def _write(tmp_path: Path) -> dict[str, Path]:
    files = {"qrels": tmp_path / "qrels.txt", "run": tmp_path / "miner.trec", "teacher": tmp_path / "teacher.trec",
             "logits": tmp_path / "ce.trec"}
    files["qrels"].write_text("".join(f"{q} 0 {d} {g}\n" for q, judged in QRELS.items() for d, g in judged.items()))
    files["run"].write_text("".join(f"{q} Q0 {sd.docid} {i} {sd.score} m\n" for q, docs in RUN.items()
                                    for i, sd in enumerate(docs, start=1)))
    files["teacher"].write_text("".join(f"{q} Q0 {d} 0 {p} t\n" for q, s in TEACHER.items() for d, p in s.items()))
    files["logits"].write_text("q1 Q0 a 1 3.5 ce\nq1 Q0 f 2 -1.0 ce\n")
    return files


def test_cli_success_matches_the_library(tmp_path: Path) -> None:
    files = _write(tmp_path)
    out = tmp_path / "audit.json"
    proc = _cli(files["qrels"], files["run"], "--teacher", files["teacher"], "--depth", "5", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())
    assert "6 candidates in 2 queries; 2 hidden positives (FN rate 0.333, in 1/2 queries)" in " ".join(
        proc.stdout.split())
    assert any(line.split() == ["teacher.trec", "4", "1", "0.250", "0.500", "1", "2", "1", "(1)"]
               for line in proc.stdout.splitlines())
    written = json.loads(out.read_text())
    assert written["runs"][0]["audit"] == json.loads(json.dumps(
        audit_negatives(RUN, QRELS, depth=5, teachers={"teacher.trec": TEACHER})))


def test_cli_refuses_logits_without_the_flag(tmp_path: Path) -> None:
    from rqbench.cli.audit import _teacher_scores
    from rqbench.training.denoise import probability

    files = _write(tmp_path)
    proc = _cli(files["qrels"], files["run"], "--teacher", files["logits"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ce.trec: score 3.5 (query 'q1', document 'a') is not a probability" in lines[0]
    assert "--logits" in lines[0] and "--method calibrated" in lines[0]
    assert _teacher_scores(files["logits"], logits=True) == {"q1": {"a": probability(3.5), "f": probability(-1.0)}}
