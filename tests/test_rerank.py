"""Re-ranking in a suite: a cross-encoder variant re-orders another variant's top-k through the `score` and
`rerank` stages (real models, real data: DL19-mini's shipped BM25 run), keeps the rest of the run below,
reuses its scores from the cache, and resumes after a kill during scoring."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.stages.score import read_scores
from rqbench.suite import load_suite
from rqbench.types import read_trec_run

SUITE = """
[suite]
name = "rerank"
dataset = "msmarco-dl19-mini"
measures = ["RR@10", "nDCG@10", "R@50"]
baseline = "top50"

[[variants]]
name = "top50"
backend = "trec-run"
params = {{ path = "{run}" }}

[[variants]]
name = "ce"
backend = "cross-encoder"
params = {{ model = "{model}", max_length = 96, precision = "fp32", threads = 1 }}
rerank = {{ run_of = "top50", depth = {depth} }}
"""


def write_suite(tmp_path: Path, data_root: Path, model: str, depth: int = 10) -> Path:
    path = tmp_path / "rerank.toml"
    path.write_text(SUITE.format(run=data_root / "msmarco-dl19-mini" / "bm25.top50.trec", model=model, depth=depth))
    return path


def rq(*args: str, cwd: Path, data_root: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "COLUMNS": "120", "RQBENCH_DATA": str(data_root), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def test_the_plan_scores_the_source_runs_top_k_once(tmp_path: Path, data_root: Path) -> None:
    plan = plan_suite(load_suite(write_suite(tmp_path, data_root, "minilm")), data_root)
    (ce,) = [p for p in plan.evaluations if p.variant.name == "ce"]
    roles = [role for role, _ in ce.steps]
    assert roles == ["rerank_of:import", "score", "rerank", "evaluate"]
    steps = dict(ce.steps)
    assert steps["score"].inputs["run"].node is steps["rerank_of:import"]
    assert steps["score"].params.depth == steps["rerank"].params.depth == 10
    assert steps["score"].params.backend_params["max_length"] == 96
    # the top50 variant's own import is the node the re-ranker reads: one node, shared
    (top,) = [p for p in plan.evaluations if p.variant.name == "top50"]
    assert top.run is steps["rerank_of:import"]


def test_a_reranker_without_a_run_to_rerank_is_a_one_line_error(tmp_path: Path, data_root: Path) -> None:
    path = write_suite(tmp_path, data_root, "minilm")
    path.write_text(path.read_text().replace('rerank = { run_of = "top50", depth = 10 }\n', ""))
    with pytest.raises(RqbenchError, match=r"cannot retrieve, so it has no run .give it \[variants.rerank\]"):
        plan_suite(load_suite(path), data_root)
    path.write_text(path.read_text() + 'rerank = { run_of = "top5", depth = 10 }\n')
    with pytest.raises(RqbenchError, match=r"rerank\.run_of names unknown variant 'top5'"):
        load_suite(path)


@pytest.mark.slow
def test_rerank_reorders_the_top_k_by_the_scores_and_resumes_after_a_kill(tmp_path: Path, data_root: Path) -> None:
    """The packaged MiniLM (fp32) as the cross-encoder, 10 queries x top-20: scored in chunks of one query;
    a run killed after some chunks resumes from them and ends with the scores of an uninterrupted run."""
    first, again = tmp_path / "killed", tmp_path / "clean"
    for work in (first, again):
        work.mkdir()
        write_suite(work, data_root, "minilm", depth=20)
    chunked = {"RQBENCH_SCORE_CHUNK": "20"}

    proc = rq("run", "rerank.toml", cwd=first, data_root=data_root, env=chunked)
    partials: list[Path] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        partials = list((first / ".rqbench" / "store" / "tmp").glob("*-resume/scores.partial.tsv"))
        if partials and len(partials[0].read_text().splitlines()) >= 40:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert partials, "the scoring was never seen in progress"
    kept = partials[0].read_text().splitlines()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"

    code, out, err = finish(rq("run", "rerank.toml", "--json", cwd=first, data_root=data_root, env=chunked))
    assert code == 0, err[-2000:]
    records = {r["variant"]: r for r in json.loads(out)}
    score_hash = records["ce"]["artifact_hashes"]["score"]
    store = first / ".rqbench" / "store"
    scores_file = store / "score" / score_hash[:2] / score_hash / "scores.tsv"
    resumed = scores_file.read_text().splitlines()
    assert resumed[:len(kept) - 1] == kept[:len(kept) - 1]  # the finished chunks were kept, not redone

    code, _, err = finish(rq("run", "rerank.toml", "--json", cwd=again, data_root=data_root, env=chunked))
    assert code == 0, err[-2000:]
    clean = (again / ".rqbench" / "store" / "score" / score_hash[:2] / score_hash / "scores.tsv").read_text()
    assert resumed == clean.splitlines()

    # the re-ranked run: per query the source's top 20 in score order, then the source's ranks 21.. in order
    source = read_trec_run(data_root / "msmarco-dl19-mini" / "bm25.top50.trec")
    scores = read_scores(scores_file)
    reranked = read_trec_run(first / "results" / "rerank" / "runs" / "ce.trec")
    assert set(reranked) == set(source)
    for qid, ranking in source.items():
        got = [h.docid for h in reranked[qid]]
        top = sorted(scores[qid], key=lambda d: (-scores[qid][d], d))
        assert sorted(got[:20]) == sorted(h.docid for h in ranking[:20])
        assert [scores[qid][d] for d in got[:20]] == sorted((scores[qid][d] for d in top), reverse=True)
        assert got[20:] == [h.docid for h in ranking[20:]]
    assert records["ce"]["metrics"]["R@50"] == records["top50"]["metrics"]["R@50"]  # same documents to 50

    code, out3, err = finish(rq("run", "rerank.toml", "--json", cwd=first, data_root=data_root, env=chunked))
    assert code == 0 and all(s["cached"] for r in json.loads(out3) for s in r["stages"])


def test_a_resumed_scoring_keeps_chunks_after_a_query_without_hits(tmp_path: Path) -> None:
    """A query with no hits has no lines in the partial file; the chunks after it must still be kept."""
    from rqbench.stages.score import PARTIAL_FILE, _keep_whole_chunks

    work = [("q1", ["a", "b"]), ("q2", []), ("q3", ["c", "d"]), ("q4", ["e", "f"])]
    partial = tmp_path / PARTIAL_FILE
    partial.write_text("q1\ta\t1.0\nq1\tb\t2.0\nq3\tc\t3.0\nq3\td\t4.0\nq4\te\t5.")  # q4's chunk torn by a kill
    done = _keep_whole_chunks(partial, work, size=2)
    assert done == {"q1", "q2"}  # chunks [q1], [q2, q3], [q4], named by their first query: the first two kept
    assert partial.read_text().splitlines() == ["q1\ta\t1.0", "q1\tb\t2.0", "q3\tc\t3.0", "q3\td\t4.0"]
