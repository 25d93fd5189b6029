"""Re-ranking in a suite: a cross-encoder variant re-orders another variant's top-k through the `score` and
`rerank` stages (a real, tiny random cross-encoder; real data: DL19-mini's shipped BM25 run), keeps the rest
of the run below, reuses its scores from the cache, and resumes after a kill during scoring."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _cli_killed_in_chunk(kill_at: int, log: str, cwd: str, env: dict[str, str], *args: str) -> None:
    """`rqbench *args` in `cwd` (run in a child process: the `forked` fixture), the cross-encoder backend's
    `score_pairs` counted (each call's pair count appended to `log`) and the process SIGKILLed as scoring
    chunk `kill_at` begins: a kill in the middle of the score stage, after the chunks before it were appended
    and fsynced, at the same place every time; the scores are the backend's own."""
    import torch

    from rqbench.cli import main
    from rqbench_backends.cross_encoder import CrossEncoderBackend

    torch.set_num_threads(1)  # a forked child: never the parent's OpenMP pool
    os.chdir(cwd)
    os.environ.update(env)
    score_pairs, calls = CrossEncoderBackend.score_pairs, []

    def counted(self: CrossEncoderBackend, pairs: list[tuple[str, str]]) -> object:
        calls.append(len(pairs))
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{len(pairs)}\n")
        if len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return score_pairs(self, pairs)

    CrossEncoderBackend.score_pairs = counted  # type: ignore[method-assign]  # this child's copy only
    sys.argv = ["rqbench", *args]
    main()


def rq_here(*args: str, cwd: Path, data_root: Path, env: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI in this process, which must succeed; its stdout. The same `rqbench` app as a fresh process runs,
    without paying for a fresh interpreter's torch and transformers imports."""
    from typer.testing import CliRunner

    from rqbench.cli import app

    with monkeypatch.context() as m:
        m.chdir(cwd)
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "120", "RQBENCH_DATA": str(data_root), **env})
    assert result.exit_code == 0 and result.exception is None, (repr(result.exception), result.output[-2000:])
    return result.stdout


def chunk_sizes(log: Path) -> list[int]:
    return [int(x) for x in log.read_text().split()] if log.exists() else []


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT (hidden 32) with a 1-label head and MiniLM's tokenizer, its weights drawn wide
    (initializer_range 0.2) so that its scores spread and the re-ranking moves documents."""
    import torch
    import transformers

    from rqbench.models.hf import packaged_minilm

    folder = tmp_path_factory.mktemp("tiny-ce")
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=128, num_labels=1,
                                     initializer_range=0.2)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    transformers.AutoTokenizer.from_pretrained(str(packaged_minilm())).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_rerank_reorders_the_top_k_by_the_scores_and_resumes_after_a_kill(tmp_path: Path, data_root: Path,
                                                                          tiny_cross_encoder: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          forked: Callable[..., Any]) -> None:
    """A cross-encoder variant re-ranks DL19-mini's BM25 top-20 (10 queries), scored in chunks of one query;
    a run SIGKILLed while scoring its third chunk resumes after the two it finished (they are not scored
    again) and ends with the scores, byte for byte, of an uninterrupted run. The killed run is a child
    process; the resumed, the uninterrupted and the all-cached runs go through the same CLI in this process.

    The claim is about the stages' mechanics (chunks, resumption, the re-ranked order), not about the
    model's judgement, so the cross-encoder is a tiny random BERT with a 1-label head: the packaged
    MiniLM costs ~20 s of CPU here for nothing more. The real MiniLM's scores are checked against
    sentence-transformers in test_cross_encoder.py, and a MiniLM-based cross-encoder re-ranks BM25 for the
    better in test_cross_encoder_beats_bm25.py."""
    first, again = tmp_path / "killed", tmp_path / "clean"
    for work in (first, again):
        work.mkdir()
        write_suite(work, data_root, str(tiny_cross_encoder), depth=20)
    chunked = {"RQBENCH_SCORE_CHUNK": "20"}

    env = {"COLUMNS": "120", "RQBENCH_DATA": str(data_root), **chunked}
    with forked(_cli_killed_in_chunk, 3, str(tmp_path / "killed.log"), str(first), env, "run", "rerank.toml") as proc:
        pass
    assert proc.exitcode == -signal.SIGKILL, f"the run was not killed in its third chunk: exit {proc.exitcode}"
    assert chunk_sizes(tmp_path / "killed.log") == [20, 20, 20]
    (partial,) = (first / ".rqbench" / "store" / "tmp").glob("*-resume/scores.partial.tsv")
    kept = partial.read_text().splitlines()
    assert len(kept) == 40  # the two finished chunks, fsynced before the kill

    from rqbench_backends.cross_encoder import CrossEncoderBackend

    scored: list[int] = []
    score_pairs = CrossEncoderBackend.score_pairs
    with monkeypatch.context() as m:
        m.setattr(CrossEncoderBackend, "score_pairs", lambda self, pairs: scored.append(len(pairs)) or
                  score_pairs(self, pairs))
        out = rq_here("run", "rerank.toml", "--json", cwd=first, data_root=data_root, env=chunked,
                      monkeypatch=monkeypatch)
    assert scored == [20] * 8  # the finished chunks were kept, not redone
    records = {r["variant"]: r for r in json.loads(out)}
    score_hash = records["ce"]["artifact_hashes"]["score"]
    store = first / ".rqbench" / "store"
    scores_file = store / "score" / score_hash[:2] / score_hash / "scores.tsv"
    resumed = scores_file.read_text().splitlines()
    assert resumed[:40] == kept

    rq_here("run", "rerank.toml", "--json", cwd=again, data_root=data_root, env=chunked, monkeypatch=monkeypatch)
    clean = (again / ".rqbench" / "store" / "score" / score_hash[:2] / score_hash / "scores.tsv").read_text()
    assert resumed == clean.splitlines()

    # the re-ranked run: per query the source's top 20 in score order, then the source's ranks 21.. in order
    source = read_trec_run(data_root / "msmarco-dl19-mini" / "bm25.top50.trec")
    scores = read_scores(scores_file)
    assert len({round(s, 4) for per_query in scores.values() for s in per_query.values()}) > 150  # they spread
    reranked = read_trec_run(first / "results" / "rerank" / "runs" / "ce.trec")
    assert set(reranked) == set(source)
    moved = 0
    for qid, ranking in source.items():
        got = [h.docid for h in reranked[qid]]
        top = sorted(scores[qid], key=lambda d: (-scores[qid][d], d))
        assert sorted(got[:20]) == sorted(h.docid for h in ranking[:20])
        assert [scores[qid][d] for d in got[:20]] == sorted((scores[qid][d] for d in top), reverse=True)
        assert got[20:] == [h.docid for h in ranking[20:]]
        moved += got[:20] != [h.docid for h in ranking[:20]]
    assert moved == len(source)  # every query's top 20 was re-ordered, not passed through
    assert records["ce"]["metrics"]["R@50"] == records["top50"]["metrics"]["R@50"]  # same documents to 50

    out3 = rq_here("run", "rerank.toml", "--json", cwd=first, data_root=data_root, env=chunked, monkeypatch=monkeypatch)
    assert all(s["cached"] for r in json.loads(out3) for s in r["stages"])


def test_a_resumed_scoring_keeps_chunks_after_a_query_without_hits(tmp_path: Path) -> None:
    """A query with no hits has no lines in the partial file; the chunks after it must still be kept."""
    from rqbench.stages.score import PARTIAL_FILE, _keep_whole_chunks

    work = [("q1", ["a", "b"]), ("q2", []), ("q3", ["c", "d"]), ("q4", ["e", "f"])]
    partial = tmp_path / PARTIAL_FILE
    partial.write_text("q1\ta\t1.0\nq1\tb\t2.0\nq3\tc\t3.0\nq3\td\t4.0\nq4\te\t5.")  # q4's chunk torn by a kill
    done = _keep_whole_chunks(partial, work, size=2)
    assert done == {"q1", "q2"}  # chunks [q1], [q2, q3], [q4], named by their first query: the first two kept
    assert partial.read_text().splitlines() == ["q1\ta\t1.0", "q1\tb\t2.0", "q3\tc\t3.0", "q3\td\t4.0"]
