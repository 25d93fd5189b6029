"""rqbench.models.cross_encoder: scores in input order, batching and precision, save/load, agreement with
sentence-transformers on the real packaged MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from scipy.stats import spearmanr

from rqbench.errors import RqbenchError
from rqbench.models.cross_encoder import CROSS_ENCODER_CONFIG, CrossEncoder
from rqbench.models.hf import packaged_minilm

PAIRS = [
    ("what causes rain", "Rain forms when water vapour condenses into droplets heavy enough to fall."),
    ("capital of france", "Paris."),
    ("protein folding", "Proteins fold into three-dimensional structures determined by their amino acid "
                        "sequence, a process studied for decades with many experimental and computational "
                        "methods, from crystallography to molecular dynamics and deep learning."),
    ("a", "b"),
    ("how do vaccines work", "Vaccines train the immune system to recognise a pathogen."),
    ("long query about the effect of exercise on sleep quality in older adults", "Exercise helps."),
    ("bees", "Bees pollinate flowers; colonies have a queen, workers and drones."),
]


def _tiny(folder: Path, head: bool = True, num_labels: int = 1, seed: int = 0) -> Path:
    """A random 2-layer BERT (hidden 32) with the packaged MiniLM's tokenizer, saved to `folder`."""
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=128, num_labels=num_labels,
                                     initializer_range=0.2)  # wider than BERT's 0.02: scores that spread
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config) if head else transformers.BertModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    transformers.AutoTokenizer.from_pretrained(str(packaged_minilm())).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny(tmp_path_factory.mktemp("tiny-ce"))


def test_scores_in_input_order_equal_a_plain_forward_of_each_pair(tiny: Path) -> None:
    ce = CrossEncoder.load(str(tiny), max_length=64)
    scores = ce.score(PAIRS, batch_size=3, precision="fp32")
    assert scores.dtype == np.float32 and scores.shape == (len(PAIRS),)
    assert ce.resolved_precision == "fp32"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(tiny)).eval()
    with torch.inference_mode():
        plain = [model(**tokenizer(q, p, truncation=True, max_length=64, return_tensors="pt")).logits[0, 0].item()
                 for q, p in PAIRS]
    np.testing.assert_allclose(scores, plain, atol=1e-5)


def test_batches_are_cut_from_pairs_sorted_by_token_length(tiny: Path) -> None:
    ce = CrossEncoder.load(str(tiny), max_length=16)
    lengths = ce.token_lengths(PAIRS)
    assert lengths.max() == 16 and lengths[3] == 5  # [CLS] a [SEP] b [SEP]
    seen: list[list[tuple[str, str]]] = []
    ce.tokenize = lambda pairs: seen.append(list(pairs)) or CrossEncoder.tokenize(ce, pairs)  # type: ignore[method-assign]
    ce.score(PAIRS, batch_size=3, precision="fp32")
    order = sorted(range(len(PAIRS)), key=lambda i: (-lengths[i], i))  # longest first, ties by position
    assert seen == [[PAIRS[i] for i in order[k:k + 3]] for k in (0, 3, 6)]


def test_batch_size_does_not_change_scores(tiny: Path) -> None:
    ce = CrossEncoder.load(str(tiny))
    ref = ce.score(PAIRS, batch_size=1, precision="fp32")
    for bs in (2, 5, 100):
        np.testing.assert_allclose(ce.score(PAIRS, batch_size=bs, precision="fp32"), ref, atol=1e-6)
    assert ce.score([], precision="fp32").shape == (0,)


def test_bf16_scores_are_close_to_fp32_and_rank_alike(tiny: Path) -> None:
    ce = CrossEncoder.load(str(tiny))
    fp32 = ce.score(PAIRS, precision="fp32")
    bf16 = ce.score(PAIRS, precision="bf16")
    assert ce.resolved_precision == "bf16" and bf16.dtype == np.float32
    assert np.abs(bf16 - fp32).max() < 0.05 * fp32.std()
    assert spearmanr(bf16, fp32)[0] >= 0.9
    assert {p.dtype for p in ce.model.parameters()} == {torch.float32}  # the fp32 model is left as it was
    np.testing.assert_array_equal(ce.score(PAIRS, precision="fp32"), fp32)


def test_bf16_follows_changed_weights(tiny: Path) -> None:
    ce = CrossEncoder.load(str(tiny))
    before = ce.score(PAIRS, precision="bf16")
    with torch.no_grad():
        ce.model.classifier.bias.add_(1.0)  # an in-place update, as an optimiser step makes
    after = ce.score(PAIRS, precision="bf16")
    np.testing.assert_allclose(after - before, 1.0, atol=0.02)


def test_auto_precision_is_resolved_and_recorded(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RQBENCH_PRECISION", "fp32")
    ce = CrossEncoder.load(str(tiny))
    np.testing.assert_array_equal(ce.score(PAIRS), ce.score(PAIRS, precision="fp32"))
    assert ce.resolved_precision == "fp32"


def test_save_load_round_trip_gives_identical_scores(tiny: Path, tmp_path: Path) -> None:
    ce = CrossEncoder.load(str(tiny), max_length=24)
    ce.save(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / CROSS_ENCODER_CONFIG).read_text()) == {"max_length": 24, "pooling": "cls"}
    assert list((tmp_path / "saved").glob("*.safetensors"))
    back = CrossEncoder.load(str(tmp_path / "saved"))
    assert back.config.max_length == 24
    for precision in ("fp32", "bf16"):
        np.testing.assert_array_equal(back.score(PAIRS, precision=precision), ce.score(PAIRS, precision=precision))
    assert CrossEncoder.load(str(tmp_path / "saved"), max_length=12).config.max_length == 12


def test_mean_pooling_is_the_masked_mean_of_token_states_through_the_same_head(tiny: Path, tmp_path: Path) -> None:
    ce = CrossEncoder.load(str(tiny), max_length=64, pooling="mean")
    scores = ce.score(PAIRS, batch_size=3, precision="fp32")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(tiny)).eval()
    with torch.inference_mode():  # one pair at a time: no padding, so the mask is all ones
        plain = [model.classifier(model.bert(**tokenizer(q, p, truncation=True, max_length=64, return_tensors="pt"))
                                  .last_hidden_state[0].mean(0)).item() for q, p in PAIRS]
    np.testing.assert_allclose(scores, plain, atol=1e-5)
    assert not np.allclose(scores, CrossEncoder.load(str(tiny), max_length=64).score(PAIRS, precision="fp32"))
    low = ce.score(PAIRS, precision="bf16")
    assert spearmanr(low, scores).statistic > 0.9
    ce.save(tmp_path / "saved")
    back = CrossEncoder.load(str(tmp_path / "saved"))
    assert back.config.pooling == "mean"
    np.testing.assert_allclose(back.score(PAIRS, precision="fp32"), scores, atol=1e-6)


def test_a_bare_encoder_gets_the_same_seeded_head_every_time(tmp_path: Path) -> None:
    folder = _tiny(tmp_path / "bare", head=False)
    a, b = CrossEncoder.load(str(folder)), CrossEncoder.load(str(folder))
    torch.manual_seed(123)
    c = CrossEncoder.load(str(folder))
    np.testing.assert_array_equal(a.score(PAIRS, precision="fp32"), b.score(PAIRS, precision="fp32"))
    np.testing.assert_array_equal(a.score(PAIRS, precision="fp32"), c.score(PAIRS, precision="fp32"))
    assert a.model.config.num_labels == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"precision": "fp64"}, "precision must be one of"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"device": "tpu9"}, "unknown device"),
])
def test_bad_arguments_are_one_line_errors(tiny: Path, kwargs: dict, message: str) -> None:
    ce = CrossEncoder.load(str(tiny))
    with pytest.raises(RqbenchError, match=message) as info:
        ce.score(PAIRS, **kwargs)
    assert "\n" not in str(info.value)


def test_a_head_with_two_labels_is_refused(tmp_path: Path) -> None:
    folder = _tiny(tmp_path / "two", num_labels=2)
    with pytest.raises(RqbenchError, match="needs a 1-label head") as info:
        CrossEncoder.load(str(folder))
    assert "\n" not in str(info.value)
    with pytest.raises(RqbenchError, match="model folder not found"):
        CrossEncoder.load(str(tmp_path / "missing"))


def test_fp32_agrees_with_sentence_transformers_on_real_minilm(data_root: Path, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder as STCrossEncoder

    queries = [json.loads(line)["text"] for line in (data_root / "scifact" / "queries.jsonl").open()][:4]
    docs = []
    with (data_root / "scifact" / "corpus.jsonl").open() as fh:
        for line in fh:
            o = json.loads(line)
            docs.append(f"{o['title']} {o['text']}")
            if len(docs) == 4:
                break
    pairs = [(q, d) for q in queries for d in docs]
    CrossEncoder.load("minilm", max_length=128).save(tmp_path / "ce")
    ours = CrossEncoder.load(str(tmp_path / "ce")).score(pairs, batch_size=8, precision="fp32")
    st = STCrossEncoder(str(tmp_path / "ce"), max_length=128, device="cpu", activation_fn=torch.nn.Identity())
    theirs = st.predict(pairs, batch_size=8, show_progress_bar=False)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_the_backend_scores_a_saved_folder_with_the_pooling_it_was_trained_with(tiny: Path, tmp_path: Path) -> None:
    from rqbench_backends.cross_encoder import CrossEncoderBackend, CrossEncoderParams

    CrossEncoder.load(str(tiny), max_length=64, pooling="mean").save(tmp_path / "mean")
    assert CrossEncoderParams(model=str(tmp_path / "mean")).pooling == "mean"
    assert CrossEncoderParams(model=str(tiny)).pooling == "cls"  # an HF classifier: its own [CLS] head
    assert CrossEncoderParams(model="minilm").pooling == "cls"
    backend = CrossEncoderBackend(CrossEncoderParams(model=str(tmp_path / "mean"), precision="fp32"))
    direct = CrossEncoder.load(str(tiny), max_length=64, pooling="mean").score(PAIRS, precision="fp32")
    np.testing.assert_allclose(backend.score_pairs(PAIRS), direct, atol=1e-6)
    # a folder saved before pooling was recorded was trained through [CLS]
    legacy = tmp_path / "legacy"
    CrossEncoder.load(str(tiny), max_length=64).save(legacy)
    (legacy / CROSS_ENCODER_CONFIG).write_text('{"max_length": 64}')
    assert CrossEncoderParams(model=str(legacy)).pooling == "cls"
    with pytest.raises(RqbenchError, match="was trained with pooling 'cls'; pooling 'mean' would read") as info:
        CrossEncoderBackend(CrossEncoderParams(model=str(legacy), pooling="mean")).model()
    assert "\n" not in str(info.value)


def test_mean_pooling_is_refused_for_a_head_that_is_not_dropout_and_one_linear(tmp_path: Path) -> None:
    config = transformers.DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64, num_labels=1)
    transformers.DistilBertForSequenceClassification(config).save_pretrained(tmp_path / "distil")
    transformers.AutoTokenizer.from_pretrained(str(packaged_minilm())).save_pretrained(tmp_path / "distil")
    assert CrossEncoder.load(str(tmp_path / "distil")).config.pooling == "cls"
    with pytest.raises(RqbenchError, match="needs a BERT-style model whose head is dropout \\+ one Linear"):
        CrossEncoder.load(str(tmp_path / "distil"), pooling="mean")
