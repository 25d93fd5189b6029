"""Dense backend, corpus encoding and faiss indexes: real MiniLM on real MS MARCO passages, tiny random BERTs
(a `BertConfig` + MiniLM's tokenizer) where only the mechanics matter. No mocks of torch or faiss.

The MiniLM index of msmarco-dl19-mini (1,033 passages, max length 128) is built once per session; the
hnsw/ivfpq tests reuse its embeddings (the backend resumes from the finished embeddings folder).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import ir_measures
import numpy as np
import pytest
import torch
from ir_measures import nDCG

from rqbench.backend import Encoder, Retriever, build_params, capabilities, load_backend_class, split_params
from rqbench.data.readers import read_tsv_docs, read_tsv_queries
from rqbench.dense.encoding import (
    EMBEDDINGS_FILE,
    EMBEDDINGS_META,
    ORDER_FILE,
    encode_corpus,
    encode_texts,
    load_embeddings,
    shard_name,
    token_lengths,
)
from rqbench.dense.faiss_index import IndexSpec, build_index, load_index, save_index, search
from rqbench.errors import RqbenchError
from rqbench.models.dual_encoder import DualEncoder, EncoderConfig
from rqbench.models.hf import packaged_minilm
from rqbench.types import Doc, Query, read_qrels, sort_ranking
from rqbench_backends.dense import EMBEDDINGS_DIR, DenseBackend, DenseParams

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
WORDS = ["retrieval", "dense", "passage", "query", "encoder", "index", "faiss", "vector", "search", "ranking",
         "model", "neural", "score", "document", "relevance", "judgement", "corpus", "token", "length", "batch",
         "padding", "shard", "resume"]


def make_tiny_bert(folder: Path, seed: int) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with MiniLM's tokenizer, saved as safetensors."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).eval().save_pretrained(folder, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copy(packaged_minilm() / name, folder / name)
    return folder


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 60)))) for _ in range(n)]


@pytest.fixture
def one_thread():
    """Tiny models run many small ops: one torch thread avoids OpenMP barrier waits on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_a(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-a"), seed=1)


@pytest.fixture(scope="session")
def tiny_b(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-b"), seed=2)


@pytest.fixture(scope="session")
def mini(data_root: Path):
    root = data_root / "msmarco-dl19-mini"
    docs = list(read_tsv_docs(root / "collection.tsv").values())
    queries = list(read_tsv_queries(root / "queries.tsv").values())
    return docs, queries, read_qrels(root / "qrels.txt")


# One torch thread: a second one (the default, 2) tripled the CPU seconds of the MiniLM encoding on two busy cores
# (OpenMP threads spinning at barriers while the other test process holds a core), for no gain in wall time.
MINI_PARAMS = DenseParams(max_passage_length=128, threads=1)


@pytest.fixture(scope="session")
def mini_index(mini, tmp_path_factory) -> tuple[DenseBackend, Path]:
    docs, _, _ = mini
    workdir = tmp_path_factory.mktemp("dense") / "flat"
    workdir.mkdir()
    backend = DenseBackend(MINI_PARAMS)
    backend.index(docs, workdir, progress=False)
    return backend, workdir


# ---- (d) the round trip on real data -------------------------------------------------------------------

@pytest.mark.slow
def test_round_trip_minilm_msmarco_mini(mini, mini_index):
    docs, queries, qrels = mini
    backend, workdir = mini_index
    assert len(docs) == 1033 and len(queries) == 10
    k = 100
    run = backend.search(workdir, queries, k)
    assert set(run) == {q.id for q in queries} and all(len(r) == k for r in run.values())
    measured = ir_measures.calc_aggregate([nDCG @ 10], qrels,
                                          {qid: {sd.docid: sd.score for sd in r} for qid, r in run.items()})
    assert measured[nDCG @ 10] > 0.4, measured

    # the faiss results are the brute-force inner-product top-k
    emb = np.asarray(load_embeddings(workdir / EMBEDDINGS_DIR))
    q_emb = backend.encode_queries([q.text for q in queries])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    exact = q_emb @ emb.T
    ids = [d.id for d in docs]
    for qi, q in enumerate(queries):
        got = run[q.id]
        by_id = dict(zip(ids, exact[qi].tolist(), strict=True))
        kth = got[-1].score
        for sd in got:  # every returned score is the exact inner product
            assert abs(sd.score - by_id[sd.docid]) < 1e-5
        returned = {sd.docid for sd in got}
        assert {d for d, s in by_id.items() if s > kth + 1e-5} <= returned  # nothing better was missed
        want = [sd.docid for sd in sort_ranking((type(got[0])(d, s) for d, s in by_id.items()), k)]
        agree = sum(a == b for a, b in zip(want, [sd.docid for sd in got], strict=True))
        assert agree >= k - 2  # identical up to float near-ties

    # encode_docs (in memory) gives the same vectors as the corpus encoding: to float32 rounding in fp32;
    # under bf16 (the default where the CPU has it) other batches pad differently, so only to bf16 noise
    in_memory = backend.encode_docs(docs[:40])
    if backend.params.precision == "fp32":
        np.testing.assert_allclose(in_memory, emb[:40], atol=1e-5)
    else:
        assert np.min(np.sum(in_memory * emb[:40], axis=1)) > 0.9995
    assert sorted(p.name for p in workdir.iterdir()) == ["dense.json", "docids.json", EMBEDDINGS_DIR, "index.faiss"]
    assert not list((workdir / EMBEDDINGS_DIR).glob("shard-*"))  # shards removed after assembly


@pytest.mark.slow
def test_hnsw_and_ivfpq_backends_reuse_embeddings_and_agree_with_flat(mini, mini_index, tmp_path):
    docs, queries, _ = mini
    flat_backend, flat_dir = mini_index
    flat_run = flat_backend.search(flat_dir, queries, 10)
    for kind, min_recall in (("hnsw", 0.95), ("ivfpq", 0.5)):
        workdir = tmp_path / kind
        workdir.mkdir()
        # a finished embeddings folder of the same texts and model: index() only builds the faiss index
        shutil.copytree(flat_dir / EMBEDDINGS_DIR, workdir / EMBEDDINGS_DIR)
        params = DenseParams(max_passage_length=128, index=kind, ef_search=64, nprobe=8, threads=1)
        backend = DenseBackend(params)
        backend.index(docs, workdir, progress=False)
        assert (workdir / "index.faiss").exists()
        run = backend.search(workdir, queries, 10)
        recall = np.mean([len({d.docid for d in run[q]} & {d.docid for d in flat_run[q]}) / 10 for q in run])
        assert recall >= min_recall, (kind, recall)
    with pytest.raises(RqbenchError, match="'hnsw' index"):
        DenseBackend(MINI_PARAMS).search(tmp_path / "hnsw", queries, 10)
    # ivfpq with exact re-scoring of 100 candidates from the stored embeddings: flat's order and scores
    rescored = DenseBackend(DenseParams(max_passage_length=128, index="ivfpq", nprobe=8, rescore=100, threads=1))
    run = rescored.search(tmp_path / "ivfpq", queries, 10)
    recall = np.mean([len({d.docid for d in run[q]} & {d.docid for d in flat_run[q]}) / 10 for q in run])
    assert recall >= 0.9, recall
    flat_score = {(q, d.docid): d.score for q in flat_run for d in flat_run[q]}
    shared = [(q, d) for q in run for d in run[q] if (q, d.docid) in flat_score]
    assert shared and all(abs(d.score - flat_score[q, d.docid]) < 1e-4 for q, d in shared)


def test_rescoring_an_ivfpq_index_restores_the_exact_order() -> None:
    """Clustered synthetic vectors: IVF-PQ's compressed scores misorder near neighbours; re-scoring its
    candidates from the exact vectors gives exact scores in exact order, and recall can only rise."""
    from rqbench.dense.faiss_index import rescore

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 32)).astype(np.float32)
    emb = (centres[rng.integers(0, 50, 20000)] + 0.3 * rng.standard_normal((20000, 32))).astype(np.float32)
    queries = emb[rng.choice(20000, 64, replace=False)] + 0.1 * rng.standard_normal((64, 32)).astype(np.float32)
    exact_ids, _ = search(build_index(emb, IndexSpec("flat")), queries, 10)
    ivf = build_index(emb, IndexSpec("ivfpq", nlist=64, pq_m=4, nprobe=8))
    plain, _ = search(ivf, queries, 10)
    candidates, _ = search(ivf, queries, 1000)
    ids, scores = rescore(candidates, queries, emb, 10)

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), exact_ids.tolist(),
                                                                          strict=True)]))

    assert recall(ids) >= recall(plain) and recall(ids) >= 0.95 and recall(plain) < 0.9
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, emb[ids]), rtol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    few = np.full((1, 1000), -1, dtype=np.int64)
    few[0, :3] = [5, 7, 9]
    got_ids, got_scores = rescore(few, queries[:1], emb, 10)
    assert sorted(got_ids[0, :3].tolist()) == [5, 7, 9] and (got_ids[0, 3:] == -1).all()
    assert np.isneginf(got_scores[0, 3:]).all()
    with pytest.raises(ValueError, match="a 'flat' index is exact already"):
        DenseParams(index="flat", rescore=100)


@pytest.mark.slow
def test_faiss_hnsw_recall_on_real_embeddings(mini_index, tmp_path):
    _, workdir = mini_index
    emb = np.asarray(load_embeddings(workdir / EMBEDDINGS_DIR))
    queries = emb[::7] + 0.05 * np.random.default_rng(0).standard_normal(emb[::7].shape).astype(np.float32)
    flat_ids, flat_scores = search(build_index(emb, IndexSpec("flat")), queries, 10, threads=2, batch_size=50)
    hnsw = build_index(emb, IndexSpec("hnsw", hnsw_m=16, ef_construction=100), threads=2)
    save_index(hnsw, tmp_path / "h.faiss")
    hnsw = load_index(tmp_path / "h.faiss", ef_search=64)
    assert hnsw.hnsw.efSearch == 64
    ids, _ = search(hnsw, queries, 10, threads=2)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), flat_ids.tolist(), strict=True)])
    assert recall >= 0.97, recall
    # flat scores are exact, batched or not
    np.testing.assert_allclose(flat_scores, np.sort(queries @ emb.T, axis=1)[:, ::-1][:, :10], atol=1e-5)
    ivf = build_index(emb, IndexSpec("ivfpq", nlist=1024, pq_m=16, nprobe=4))
    assert ivf.nlist == len(emb) // 39 and ivf.nprobe == 4  # nlist lowered for a small corpus
    again = build_index(emb, IndexSpec("ivfpq", nlist=1024, pq_m=16, nprobe=4))
    assert np.array_equal(search(ivf, queries, 10)[0], search(again, queries, 10)[0])  # seeded training
    with pytest.raises(RqbenchError, match="must divide"):
        build_index(emb, IndexSpec("ivfpq", pq_m=7))


# ---- (e) an interrupted encode resumes to byte-identical embeddings -----------------------------------

def _encode_then_die(model_dir: str, out_dir: str, texts: list[str]) -> None:
    """Encode into `out_dir` with shards of 20 and SIGKILL this process in the middle of shard 1 (run in a
    child process: the `forked` fixture)."""
    torch.set_num_threads(1)
    model = DualEncoder.load(model_dir, EncoderConfig(max_passage_length=48))
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done += n
        if done > 24 and (Path(out_dir) / shard_name(0)).exists():  # in the middle of shard 1
            os.kill(os.getpid(), signal.SIGKILL)

    encode_corpus(model, texts, Path(out_dir), batch_size=8, device="cpu", autocast=None, shard_size=20,
                  progress=False, on_batch=on_batch)


def test_killed_encode_resumes_to_identical_bytes(tiny_a, tmp_path, one_thread, forked):
    texts = synthetic_texts(70)
    killed = tmp_path / "killed"
    with forked(_encode_then_die, str(tiny_a), str(killed), texts) as proc:
        pass
    assert proc.exitcode == -signal.SIGKILL, f"the encoding process was not killed: exit {proc.exitcode}"
    assert (killed / shard_name(0)).exists() and not (killed / shard_name(1)).exists()
    assert not (killed / EMBEDDINGS_META).exists() and not (killed / EMBEDDINGS_FILE).exists()
    shard0 = (killed / shard_name(0)).stat().st_mtime_ns

    model = DualEncoder.load(str(tiny_a), EncoderConfig(max_passage_length=48))
    encoded: list[int] = []
    kwargs = dict(batch_size=8, device="cpu", autocast=None, shard_size=20, progress=False)
    resumed = encode_corpus(model, texts, killed, keep_shards=True, on_batch=encoded.append, **kwargs)
    assert sum(encoded) == 70 - 20  # shard 0 was not encoded again
    assert (killed / shard_name(0)).stat().st_mtime_ns == shard0

    encode_corpus(model, texts, tmp_path / "fresh", **kwargs)
    assert resumed.shape == (70, 32)
    assert (killed / EMBEDDINGS_FILE).read_bytes() == (tmp_path / "fresh" / EMBEDDINGS_FILE).read_bytes()
    assert json.loads((killed / EMBEDDINGS_META).read_text())["rows"] == 70
    assert not list((tmp_path / "fresh").glob("shard-*")) and (killed / shard_name(3)).exists()

    # a finished folder is returned as is; other texts in the same folder are refused, not mixed
    encoded.clear()
    assert np.array_equal(encode_corpus(model, texts, killed, on_batch=encoded.append, **kwargs), resumed)
    assert not encoded
    with pytest.raises(RqbenchError, match="different encoding job"):
        encode_corpus(model, texts[:-1], killed, **kwargs)


def test_length_sorted_encoding_restores_input_order(tiny_a, tmp_path, one_thread):
    texts = synthetic_texts(50, seed=3)
    model = DualEncoder.load(str(tiny_a), EncoderConfig(max_passage_length=32))
    emb = encode_texts(model, texts, "passage", batch_size=7)
    one_by_one = np.concatenate([encode_texts(model, [t], "passage", batch_size=1) for t in texts])
    np.testing.assert_allclose(emb, one_by_one, atol=1e-5)  # no padding at batch size 1
    corpus = encode_corpus(model, texts, tmp_path / "c", batch_size=7, device="cpu", autocast=None,
                           shard_size=16, progress=False)
    np.testing.assert_allclose(np.asarray(corpus), one_by_one, atol=1e-5)
    assert np.array_equal(np.asarray(corpus), encode_corpus(model, texts, tmp_path / "d", batch_size=7,
                                                           device="cpu", autocast=None, shard_size=16,
                                                           progress=False))  # deterministic
    lengths = token_lengths(model, texts, "passage")
    order = np.load(tmp_path / "c" / ORDER_FILE)
    assert sorted(order.tolist()) == list(range(50)) and lengths.max() == 32  # truncated like the encoder
    assert np.all(np.diff(lengths[order]) <= 0)  # longest first


def _encode_as_rank_1(model_dir: str, out_dir: str, texts: list[str], report: str) -> None:
    torch.set_num_threads(1)
    model = DualEncoder.load(model_dir, EncoderConfig(max_passage_length=48))
    emb = encode_corpus(model, texts, Path(out_dir), batch_size=8, device="cpu", autocast=None, shard_size=10,
                        progress=False, rank=1, world_size=2, wait_poll_s=0.1)
    Path(report).write_text(json.dumps(list(emb.shape)))


@pytest.mark.slow
def test_two_processes_share_the_shards(tiny_a, tmp_path, one_thread, forked):
    """world_size=2 the torchrun way: rank 1 in a (forked) process, rank 0 here; rank 0 assembles."""
    texts = synthetic_texts(45, seed=5)
    out = tmp_path / "shared"
    model = DualEncoder.load(str(tiny_a), EncoderConfig(max_passage_length=48))
    kwargs = dict(batch_size=8, device="cpu", autocast=None, shard_size=10, progress=False)
    with forked(_encode_as_rank_1, str(tiny_a), str(out), texts, str(tmp_path / "rank1.json")) as rank1:
        emb = encode_corpus(model, texts, out, rank=0, world_size=2, wait_poll_s=0.1, **kwargs)
    assert rank1.exitcode == 0, f"rank 1 failed: exit {rank1.exitcode}"
    assert json.loads((tmp_path / "rank1.json").read_text()) == [45, 32]  # rank 1 got the assembled embeddings too
    single = encode_corpus(model, texts, tmp_path / "single", **kwargs)
    assert np.asarray(emb).tobytes() == np.asarray(single).tobytes()


# ---- towers, pooling, identity, errors ------------------------------------------------------------------

def test_separate_query_tower(tiny_a, tiny_b, tmp_path):
    docs = [Doc(f"d{i}", "", t) for i, t in enumerate(synthetic_texts(30, seed=7))]
    queries = [Query(f"q{i}", t) for i, t in enumerate(synthetic_texts(4, seed=8))]
    backend = DenseBackend(DenseParams(model=str(tiny_a), threads=1, query_model=str(tiny_b),
                                       max_passage_length=32))
    model = backend.model()
    assert not model.config.shared and model.query_tower is not model.passage_tower
    shared = DenseBackend(DenseParams(model=str(tiny_a), threads=1, max_passage_length=32))
    only_b = DenseBackend(DenseParams(model=str(tiny_b), threads=1, max_passage_length=32))
    texts = [q.text for q in queries]
    np.testing.assert_allclose(backend.encode_queries(texts), only_b.encode_queries(texts), atol=1e-6)
    np.testing.assert_allclose(backend.encode_docs(docs), shared.encode_docs(docs), atol=1e-6)
    assert not np.allclose(backend.encode_queries(texts), shared.encode_queries(texts))
    described = backend.describe()["model"]
    assert described["query"]["weights_sha256"] != described["passage"]["weights_sha256"]

    workdir = tmp_path / "ix"
    workdir.mkdir()
    backend.index(docs, workdir, progress=False)
    run = backend.search(workdir, queries, 5)
    q_emb, d_emb = backend.encode_queries(texts), backend.encode_docs(docs)
    for qi, q in enumerate(queries):
        assert run[q.id][0].docid == docs[int(np.argmax(q_emb[qi] @ d_emb.T))].id


def test_cls_pooling_without_normalisation(tiny_a):
    from transformers import AutoModel, AutoTokenizer

    texts = synthetic_texts(5, seed=9)
    backend = DenseBackend(DenseParams(model=str(tiny_a), threads=1, pooling="cls", normalize=False,
                                       max_passage_length=32, precision="fp32"))  # compared with HF in fp32
    got = backend.encode_docs([Doc(str(i), "", t) for i, t in enumerate(texts)])
    tok, hf = AutoTokenizer.from_pretrained(tiny_a), AutoModel.from_pretrained(tiny_a).eval()
    with torch.inference_mode():
        for i, text in enumerate(texts):
            want = hf(**tok([text], truncation=True, max_length=32, return_tensors="pt")).last_hidden_state[0, 0]
            np.testing.assert_allclose(got[i], want.numpy(), atol=1e-5)
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0)


def test_use_title_and_bf16_precision(tiny_a):
    docs = [Doc("a", "Faiss", "vector search library"), Doc("b", "", "dense passage retrieval")]
    with_title = DenseBackend(DenseParams(model=str(tiny_a), threads=1, max_passage_length=32, precision="fp32"))
    no_title = DenseBackend(DenseParams(model=str(tiny_a), threads=1, max_passage_length=32, use_title=False,
                                        precision="fp32"))
    assert not np.allclose(with_title.encode_docs(docs)[0], no_title.encode_docs(docs)[0])
    np.testing.assert_allclose(with_title.encode_docs(docs)[1], no_title.encode_docs(docs)[1], atol=1e-6)
    bf16_params = DenseParams(model=str(tiny_a), threads=1, max_passage_length=32, precision="bf16")
    bf16 = DenseBackend(bf16_params).encode_docs(docs)
    fp32 = with_title.encode_docs(docs)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(bf16 * fp32, axis=1)) > 0.98  # close to fp32, not equal


def test_describe_digest_follows_the_weights(tiny_a, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_a, folder)
    before = DenseBackend(DenseParams(model=str(folder), threads=1)).describe()
    assert set(before) >= {"torch", "transformers", "faiss"} and before["faiss"]
    assert before["model"]["passage"]["weights_sha256"] == DenseBackend(
        DenseParams(model=str(tiny_a), threads=1)).describe()["model"]["passage"]["weights_sha256"]
    make_tiny_bert(folder, seed=3)  # "retrained" in place
    after = DenseBackend(DenseParams(model=str(folder), threads=1)).describe()
    assert after["model"]["passage"]["weights_sha256"] != before["model"]["passage"]["weights_sha256"]
    assert after["model"]["passage"]["config_sha256"] == before["model"]["passage"]["config_sha256"]


def test_bad_model_path_is_one_line_error(tmp_path):
    docs = [Doc("a", "", "text")]
    with pytest.raises(RqbenchError) as info:
        DenseBackend(DenseParams(model=str(tmp_path / "missing"))).index(docs, tmp_path / "ix")
    assert "model folder not found" in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(RqbenchError) as info:
        DenseBackend(DenseParams(model=str(tmp_path / "empty"))).encode_queries(["q"])
    assert "\n" not in str(info.value)
    with pytest.raises(RqbenchError, match="no dense index"):
        DenseBackend().search(tmp_path, [Query("q", "x")], 10)


def test_registry_params_and_cheap_import():
    cls = load_backend_class("dense")
    assert cls is DenseBackend and capabilities(cls) == ["retriever", "encoder", "trainable"]
    backend = DenseBackend()
    assert isinstance(backend, Retriever) and isinstance(backend, Encoder)
    params = build_params(DenseParams, {"index": "hnsw", "precision": "bf16", "threads": 1, "ef_search": 64})
    index_part, search_part = split_params(params)
    assert {"model", "pooling", "normalize", "max_passage_length", "use_title", "precision", "index",
            "hnsw_m", "ef_construction", "nlist", "pq_m"} <= set(index_part)
    assert {"ef_search", "nprobe", "max_query_length", "query_model"} <= set(search_part)
    assert not {"batch_size", "device", "threads"} & (set(index_part) | set(search_part))
    for bad in ({"pooling": "max"}, {"index": "lsh"}, {"precision": "int8"}, {"autocast": "bf16"},
                {"batch_size": "32"}):
        with pytest.raises(RqbenchError):
            build_params(DenseParams, bad)
    code = ("import sys, rqbench_backends.dense; "
            "print(any(m in sys.modules for m in ('torch', 'faiss', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_threads_asking_for_the_model_at_once_share_one_load(tiny_a):
    """`run --jobs N` builds a variant's stages in threads that share one backend: the model loads once."""
    import threading

    backend = DenseBackend(DenseParams(model=str(tiny_a)))
    barrier = threading.Barrier(4)
    got: list[DualEncoder] = []

    def ask() -> None:
        barrier.wait()
        got.append(backend.model())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(m is got[0] for m in got)


def test_overlapping_thread_settings_restore_the_count_before_the_first():
    """Two stages in threads each set torch's (process-wide) thread count for their work; the first to end must
    not restore the count over the other's, nor the last leave the first's count behind."""
    import threading

    import torch

    from rqbench_backends.dense import _torch_threads

    def in_a_fresh_thread() -> int:  # what a new worker thread starts with: the process-wide setting
        got: list[int] = []
        t = threading.Thread(target=lambda: got.append(torch.get_num_threads()))
        t.start()
        t.join()
        return got[0]

    original = in_a_fresh_thread()
    a_entered, b_entered, a_left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def a() -> None:
        with _torch_threads(original + 1):
            a_entered.set()
            b_entered.wait(10)
        a_left.set()

    def b() -> None:
        a_entered.wait(10)
        with _torch_threads(original + 2):
            b_entered.set()
            a_left.wait(10)
            seen["b after a left"] = torch.get_num_threads()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["b after a left"] == original + 2
    assert in_a_fresh_thread() == original


def test_a_searched_index_stays_open_until_its_files_change(tiny_a, tmp_path, one_thread):
    """Retrieve searches in chunks: the index is read once for all of them, and an index rebuilt in the same
    folder is read again, never served from the copy of the old one."""
    backend = DenseBackend(DenseParams(model=str(tiny_a), threads=1, max_passage_length=32))
    queries = [Query(f"q{i}", t) for i, t in enumerate(synthetic_texts(6, seed=8))]
    first = [Doc(f"d{i}", "", t) for i, t in enumerate(synthetic_texts(30, seed=7))]
    workdir = tmp_path / "ix"
    workdir.mkdir()
    backend.index(first, workdir, progress=False)
    whole = backend.search(workdir, queries, 5)
    chunked = {**backend.search(workdir, queries[:3], 5), **backend.search(workdir, queries[3:], 5)}
    assert {q: [h.docid for h in hits] for q, hits in chunked.items()} == \
        {q: [h.docid for h in hits] for q, hits in whole.items()}  # scores: to the padding's float noise
    opened = backend._open(workdir)
    assert backend._open(workdir)[0] is opened[0]  # not read again
    second = [Doc(f"e{i}", "", t) for i, t in enumerate(synthetic_texts(20, seed=9))]
    shutil.rmtree(workdir)
    workdir.mkdir()
    backend.index(second, workdir, progress=False)
    again = backend.search(workdir, queries, 5)
    assert {h.docid[0] for hits in again.values() for h in hits} == {"e"}
    (workdir / "index.faiss").unlink()
    with pytest.raises(RqbenchError, match="no faiss index here"):
        backend.search(workdir, queries, 5)
