"""The default precision: "auto" resolves per machine (bf16 where the CPU computes bf16 natively, else
fp32), the resolved value is what artifacts hash, and the fast path's embeddings agree with fp32."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rqbench import precision
from rqbench.backend import build_params, split_params
from rqbench.errors import RqbenchError
from rqbench.precision import cpu_flags, cpu_has_native_bf16, resolve_precision
from rqbench_backends.dense import DenseBackend, DenseParams

ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16", "fma"})
OLDER = frozenset({"avx2", "avx512f", "fma"})


def test_auto_resolves_from_the_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RQBENCH_PRECISION", raising=False)
    assert resolve_precision("auto", "cpu", flags=ZEN4) == "bf16"
    assert resolve_precision("auto", "cpu", flags=frozenset({"amx_bf16"})) == "bf16"
    assert resolve_precision("auto", "cpu", flags=OLDER) == "fp32"
    assert resolve_precision("auto", "cpu", flags=frozenset()) == "fp32"  # no /proc/cpuinfo: fp32
    for explicit in ("fp32", "bf16", "fp16"):
        assert resolve_precision(explicit, "cpu", flags=OLDER) == explicit
    monkeypatch.setenv("RQBENCH_PRECISION", "fp32")
    assert resolve_precision("auto", "cpu", flags=ZEN4) == "fp32"
    with pytest.raises(ValueError):
        resolve_precision("int8")


def test_cpu_flags_parsing(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(str(info)) == frozenset({"fpu", "avx2", "avx512_bf16"})
    assert cpu_has_native_bf16(cpu_flags(str(info)))
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_the_resolved_precision_is_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RQBENCH_PRECISION", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: ZEN4)
    fast = build_params(DenseParams, {})
    assert fast.precision == "bf16" and split_params(fast)[0]["precision"] == "bf16"
    fp32 = build_params(DenseParams, {"precision": "fp32"})
    assert split_params(fast)[0] != split_params(fp32)[0]
    # a machine without native bf16 falls back to fp32: the same artifact as asking for fp32
    monkeypatch.setattr(precision, "cpu_flags", lambda: OLDER)
    fallback = build_params(DenseParams, {})
    assert fallback.precision == "fp32" and split_params(fallback) == split_params(fp32)
    with pytest.raises(RqbenchError, match="'autocast' is now 'precision'"):
        build_params(DenseParams, {"autocast": "bf16"})


def test_a_suite_records_the_resolved_precision(tmp_path: Path, data_root: Path) -> None:
    from rqbench.plan import plan_suite
    from rqbench.suite import load_suite

    suite = tmp_path / "s.toml"
    suite.write_text('[suite]\nname = "p"\ndataset = "msmarco-dl19-mini"\nmeasures = ["nDCG@10"]\n\n'
                     '[[variants]]\nname = "auto"\nbackend = "dense"\n\n'
                     '[[variants]]\nname = "fp32"\nbackend = "dense"\nparams = { precision = "fp32" }\n')
    graph = plan_suite(load_suite(suite), data_root)
    index = {e.variant.name: dict(e.steps)["index"] for e in graph.evaluations}
    expected = resolve_precision("auto")
    assert index["auto"].params.backend_params["precision"] == expected
    assert (index["auto"].hash == index["fp32"].hash) == (expected == "fp32")


def test_fast_path_embeddings_agree_with_fp32(data_root: Path) -> None:
    """The packaged MiniLM on 24 real SciFact abstracts (most of them cut at 256 tokens, where bf16's
    rounding has the most room to add up): the default precision's embeddings are fp32's to cosine 0.999."""
    texts = []
    with (data_root / "scifact" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            texts.append(doc["title"] + " " + doc["text"])
            if len(texts) == 24:
                break
    from rqbench.types import Doc

    docs = [Doc(str(i), "", t) for i, t in enumerate(texts)]
    # one torch thread: two spin at OpenMP barriers on a busy 2-core machine, costing CPU for no gain
    fast = DenseBackend(DenseParams(max_passage_length=256, threads=1)).encode_docs(docs)
    full = DenseBackend(DenseParams(max_passage_length=256, threads=1, precision="fp32")).encode_docs(docs)
    cosine = np.sum(fast * full, axis=1) / (np.linalg.norm(fast, axis=1) * np.linalg.norm(full, axis=1))
    assert fast.dtype == np.float32 and float(cosine.min()) >= 0.999, float(cosine.min())


def test_training_precision_auto_resolves_per_machine_and_is_hashed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                    data_root: Path) -> None:
    """mixed_precision "auto" (the training default) is bf16 autocast on a CPU with native bf16 and no autocast
    elsewhere; the resolved value is in the train node's hashed settings, so the two never share a model."""
    from rqbench.plan import plan_suite
    from rqbench.suite import load_suite
    from rqbench.training.config import TrainConfig

    monkeypatch.delenv("RQBENCH_PRECISION", raising=False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: ZEN4)
    assert TrainConfig(device="cpu").mixed_precision == "bf16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: OLDER)
    assert TrainConfig(device="cpu").mixed_precision == "no"  # falls back cleanly
    monkeypatch.setattr(precision, "cpu_flags", lambda: ZEN4)
    monkeypatch.setenv("RQBENCH_PRECISION", "fp32")
    assert TrainConfig(device="cpu").mixed_precision == "no"
    monkeypatch.delenv("RQBENCH_PRECISION")

    suite = tmp_path / "s.toml"
    head = '[suite]\nname = "p"\ndataset = "scifact"\nmeasures = ["RR@10"]\n'
    arm = ('[[variants]]\nname = "{n}"\nbackend = "dense"\nparams = {{ max_query_length = 16, '
           'max_passage_length = 32 }}\ntrain = {{ batch_size = 8, max_steps = 1{extra} }}\n')
    suite.write_text(head + arm.format(n="fast", extra="") + arm.format(n="fp32", extra=', mixed_precision = "no"'))
    for flags, differ in ((ZEN4, True), (OLDER, False)):
        monkeypatch.setattr(precision, "cpu_flags", lambda flags=flags: flags)
        steps = {p.variant.name: dict(p.steps) for p in plan_suite(load_suite(suite), data_root).evaluations}
        fast, fp32 = steps["fast"]["train"], steps["fp32"]["train"]
        assert fast.params.trainer["mixed_precision"] == ("bf16" if differ else "no")
        assert (fast.hash != fp32.hash) is differ
