"""Loading the official RocketQA models (issue 23): Paddle checkpoints converted to Hugging Face folders that
score number for number as the Paddle model does.

With paddlepaddle installed, `paddle_rocketqa_fixture.py` builds small random models in the official layout
with Paddle itself (in its own process) and records Paddle's outputs; the converted models must match them to
1e-4 relative. Without paddle, those tests skip with the reason, and the name map is still checked against a
checkpoint written here from the official layout's names and shapes (the same file format Paddle writes; the
reader is checked against Paddle's own files when paddle is there).
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rqbench.errors import RqbenchError
from rqbench.models.cross_encoder import CrossEncoder
from rqbench.models.dual_encoder import DualEncoder, passage_string
from rqbench.models.ernie_names import tower_names
from rqbench.models.paddle_tensors import read_tensor
from rqbench.models.rocketqa_catalog import CATALOG, OfficialModel
from rqbench.models.rocketqa_convert import CONVERSION_RECORD, convert
from rqbench.models.rocketqa_import import converted_folder, import_official, md5_of, official_digest

FIXTURE = Path(__file__).with_name("paddle_rocketqa_fixture.py")
HAS_PADDLE = importlib.util.find_spec("paddle") is not None
NO_PADDLE = "paddlepaddle is not installed (bash scripts/install.sh installs it; pip install paddlepaddle==3.3.1)"
RTOL = 1e-4


@pytest.fixture(scope="module")
def paddle_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four Paddle-built models and Paddle's reference outputs (see the fixture script)."""
    if not HAS_PADDLE:
        pytest.skip(NO_PADDLE)
    out = tmp_path_factory.mktemp("paddle") / "models"
    done = subprocess.run([sys.executable, str(FIXTURE), str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("name", ["de", "de_pair"])
def test_a_converted_dual_encoder_embeds_as_paddle_does(paddle_models: Path, tmp_path: Path, name: str) -> None:
    ref = json.loads((paddle_models / "reference.json").read_text())
    record = convert(paddle_models / name, tmp_path / name)
    assert record["tensors"]["skipped_other_parts"] == []
    model = DualEncoder.load(str(tmp_path / name))
    assert (model.config.pooling, model.config.normalize, model.config.passage_input) == ("cls", False, "title-sep")
    assert model.config.shared == (name == "de_pair")
    passages = [passage_string(t, f"{t} {p}" if t else p, "title-sep") for t, p in ref["passages"]]
    with torch.no_grad():
        queries = model(model.tokenize(ref["queries"], "query"), "query").numpy()
        docs = model(model.tokenize(passages, "passage"), "passage").numpy()
    assert _relative_error(queries, np.array(ref[name]["queries"])) < RTOL
    assert _relative_error(docs, np.array(ref[name]["passages"])) < RTOL  # titles, no title, truncation
    scores = queries @ docs.T  # the official score: a dot product of raw [CLS] vectors
    assert _relative_error(scores, np.array(ref[name]["queries"]) @ np.array(ref[name]["passages"]).T) < RTOL


@pytest.mark.parametrize("name", ["ce_v1", "ce_v2"])
def test_a_converted_cross_encoder_scores_as_paddle_does(paddle_models: Path, tmp_path: Path, name: str) -> None:
    ref = json.loads((paddle_models / "reference.json").read_text())
    record = convert(paddle_models / name, tmp_path / name)
    if name == "ce_v1":  # optimizer state and the learning rate sit in the checkpoint: skipped, counted
        assert record["tensors"]["skipped_training_state"] == 2
    else:  # a joint checkpoint also holds the retriever's towers: listed
        assert record["tensors"]["skipped_other_parts"] == ["query_word_embedding"]
    model = CrossEncoder.load(str(tmp_path / name))
    assert model.config.pooling == ("cls" if name == "ce_v1" else "cls-raw")
    pairs = [(ref["queries"][q], f"{ref['passages'][p][0]} {ref['passages'][p][1]}".strip()) for q, p in ref["pairs"]]
    logits = model.score(pairs, precision="fp32")
    got = 1.0 / (1.0 + np.exp(-logits)) if name == "ce_v1" else logits  # v1: P(label 1); v2: the raw logit
    assert _relative_error(got, np.array(ref[name]["scores"])) < RTOL


def test_the_reader_reads_what_paddle_wrote(paddle_models: Path) -> None:
    word = read_tensor(paddle_models / "de" / "params" / "query_word_embedding")
    assert word.dtype == np.float32 and word.shape[1] == 32 and np.isfinite(word).all() and word.std() > 0.005


# ---- without paddle: the official layout written here ----------------------------------------------------

def write_variable(path: Path, array: np.ndarray) -> None:
    """One variable file as Paddle's SerializeToStream writes it (float32, no LoD)."""
    desc = bytes([0x08, 5]) + b"".join(bytes([0x10]) + _varint(d) for d in array.shape)
    path.write_bytes(struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + array.astype("<f4").tobytes())


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


H, LAYERS, VOCAB = 8, 2, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "fever", "virus", "cancer"]


def _official_layout(folder: Path, kind: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A model folder in the official layout with random tensors of the official names and shapes."""
    params = folder / "params"
    params.mkdir(parents=True)
    ernie = {"hidden_size": H, "num_hidden_layers": LAYERS, "num_attention_heads": 2, "vocab_size": len(VOCAB),
             "max_position_embeddings": 16, "type_vocab_size": 2, "hidden_act": "gelu"}
    shapes = {"word_embedding": (len(VOCAB), H), "pos_embedding": (16, H), "sent_embedding": (2, H)}
    prefixes = {"de": ["query_", "titlepara_"], "ce_v1": [""], "ce_v2": ["qtp_"]}[kind]
    tensors: dict[str, np.ndarray] = {}
    for prefix in prefixes:
        for m in tower_names(prefix, LAYERS):
            base = m.paddle[len(prefix):]
            if base in shapes:
                shape = shapes[base]
            elif "ffn_fc_0.w" in base:
                shape = (H, 4 * H)
            elif "ffn_fc_0.b" in base:
                shape = (4 * H,)
            elif "ffn_fc_1.w" in base:
                shape = (4 * H, H)
            else:
                shape = (H, H) if base.endswith(".w_0") else (H,)
            tensors[m.paddle] = rng.normal(size=shape).astype(np.float32)
    if kind == "ce_v1":
        tensors |= {"pooled_fc.w_0": rng.normal(size=(H, H)), "pooled_fc.b_0": rng.normal(size=H),
                    "_cls_out_w": rng.normal(size=(H, 2)), "_cls_out_b": rng.normal(size=2)}
    if kind == "ce_v2":
        tensors |= {"qtp__cls_out_w": rng.normal(size=(H, 1)), "qtp__cls_out_b": rng.normal(size=1)}
    for name, array in tensors.items():
        write_variable(params / name, np.asarray(array, np.float32))
    (folder / "ernie.json").write_text(json.dumps(ernie))
    (folder / "vocab.txt").write_text("".join(f"{w}\t{i}\n" for i, w in enumerate(VOCAB)))
    settings = {"q_max_seq_len": 8, "p_max_seq_len": 12} if kind == "de" else {
        "max_seq_len": 12, "joint_training": int(kind == "ce_v2")}
    (folder / "config.json").write_text(json.dumps(settings | {
        "model_conf_path": "ernie.json", "model_vocab_path": "vocab.txt", "model_checkpoint_path": "params"}))
    return {k: np.asarray(v, np.float32) for k, v in tensors.items()}


def test_every_official_tensor_lands_where_the_map_says(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tensors = _official_layout(tmp_path / "de", "de", rng)
    record = convert(tmp_path / "de", tmp_path / "out")
    assert record["tensors"]["converted"] == len(tensors) == 2 * (5 + 16 * LAYERS)
    from safetensors.numpy import load_file

    for side, prefix in (("query", "query_"), ("passage", "titlepara_")):
        state = load_file(tmp_path / "out" / side / "model.safetensors")
        for m in tower_names(prefix, LAYERS):
            want = tensors[m.paddle].T if m.transpose else tensors[m.paddle]
            np.testing.assert_array_equal(state[m.hf], want, err_msg=m.paddle)
    config = json.loads((tmp_path / "out" / "query" / "config.json").read_text())
    assert (config["layer_norm_eps"], config["intermediate_size"], config["hidden_act"]) == (1e-5, 4 * H, "gelu")
    vocab = (tmp_path / "out" / "query" / "vocab.txt").read_text().split()
    assert vocab == VOCAB  # ERNIE's token<TAB>id lines become BERT's token lines, in id order


def test_the_v1_head_folds_two_labels_into_one_logit(tmp_path: Path) -> None:
    tensors = _official_layout(tmp_path / "ce", "ce_v1", np.random.default_rng(1))
    convert(tmp_path / "ce", tmp_path / "out")
    model = CrossEncoder.load(str(tmp_path / "out"))
    w, b = tensors["_cls_out_w"], tensors["_cls_out_b"]
    pairs = [("fever virus", "cancer fever"), ("cancer", "virus")]
    batch = model.tokenize(pairs)
    with torch.no_grad():
        pooled = model.model.bert(**batch).pooler_output.numpy()
    two = pooled @ w + b
    want = np.exp(two[:, 1]) / np.exp(two).sum(1)  # the official score: softmax, label 1
    got = 1 / (1 + np.exp(-model.score(pairs, precision="fp32")))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_the_v2_head_reads_the_raw_cls_state(tmp_path: Path) -> None:
    tensors = _official_layout(tmp_path / "ce", "ce_v2", np.random.default_rng(2))
    convert(tmp_path / "ce", tmp_path / "out")
    model = CrossEncoder.load(str(tmp_path / "out"))
    pairs = [("fever virus", "cancer fever"), ("cancer", "virus")]
    with torch.no_grad():
        cls = model.model.bert(**model.tokenize(pairs)).last_hidden_state[:, 0].numpy()
    want = cls @ tensors["qtp__cls_out_w"][:, 0] + tensors["qtp__cls_out_b"][0]
    np.testing.assert_allclose(model.score(pairs, precision="fp32"), want, rtol=1e-5)


def test_a_leftover_a_missing_or_a_misshapen_tensor_is_one_line_naming_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    _official_layout(tmp_path / "a", "de", rng)
    write_variable(tmp_path / "a" / "params" / "mystery_fc.w_0", np.zeros((2, 2)))
    with pytest.raises(RqbenchError, match=r"tensor 'mystery_fc.w_0' is no parameter of a RocketQA model"):
        convert(tmp_path / "a", tmp_path / "out_a")
    _official_layout(tmp_path / "b", "de", rng)
    (tmp_path / "b" / "params" / "titlepara_encoder_layer_1_ffn_fc_1.b_0").unlink()
    with pytest.raises(RqbenchError, match=r"tensor 'titlepara_encoder_layer_1_ffn_fc_1.b_0' is missing"):
        convert(tmp_path / "b", tmp_path / "out_b")
    _official_layout(tmp_path / "c", "de", rng)
    write_variable(tmp_path / "c" / "params" / "query_pos_embedding", np.zeros((15, H)))
    with pytest.raises(RqbenchError, match=r"'query_pos_embedding' has shape \[15, 8\], the model json says \[16, 8\]"):
        convert(tmp_path / "c", tmp_path / "out_c")
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no half-converted folder left


def _tarball(folder: Path, name: str, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as archive:
        archive.add(folder, arcname=name)
    return out


def test_a_tarball_is_checked_against_the_published_md5_and_converted_once(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _official_layout(tmp_path / "src", "ce_v2", np.random.default_rng(4))
    tarball = _tarball(tmp_path / "src", "v2_marco_ce", tmp_path / "v2_marco_ce.tar.gz")
    with pytest.raises(RqbenchError, match=r"MD5 [0-9a-f]{32}, but the published v2_marco_ce.tar.gz has "
                                           r"915ea7ff214a4a92a3a1e1d56c3fb469: not the official file"):
        import_official("rocketqa:v2_marco_ce", tarball, tmp_path / "refused")
    monkeypatch.setenv("RQBENCH_MODELS", str(tmp_path / "models"))
    monkeypatch.setitem(CATALOG, "v2_marco_ce", OfficialModel("v2_marco_ce", md5_of(tarball)))
    folder = import_official("rocketqa:v2_marco_ce", tarball)
    assert folder == converted_folder(CATALOG["v2_marco_ce"]) and folder.is_relative_to(tmp_path / "models")
    record = json.loads((folder / CONVERSION_RECORD).read_text())
    assert record["origin"]["tarball_md5"] == md5_of(tarball) and record["kind"] == "cross-encoder"
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert import_official("rocketqa:v2_marco_ce", tarball) == folder  # converted once
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_models_import_on_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "rqbench.cli", "models", "import", "rocketqa:v1_marco_de",
                           "--from", str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"rqbench: error: {tmp_path / 'missing.tar.gz'}: file not found"]


def test_an_official_model_is_named_by_its_published_md5_before_any_download() -> None:
    from rqbench.models.hf import folder_digest

    assert folder_digest("rocketqa:v1_marco_de") == official_digest("rocketqa:v1_marco_de") == {
        "rocketqa": "v1_marco_de", "tarball_md5": "d8210e4080935bd7fdad7a394cd60b66", "converter": 1}
    with pytest.raises(RqbenchError, match="no v2_nq_ce"):
        official_digest("rocketqa:v2_nq_ce")


def test_a_suite_runs_a_converted_official_model_by_name(tmp_path: Path, data_root: Path) -> None:
    """`model = "rocketqa:NAME"` resolves to the converted copy in the models folder: a dual encoder retrieves
    and a cross-encoder re-ranks through the ordinary backends."""
    rng = np.random.default_rng(5)
    models = tmp_path / "models"
    for name, kind in (("v1_marco_de", "de"), ("v2_marco_ce", "ce_v2")):
        _official_layout(tmp_path / name, kind, rng)
        convert(tmp_path / name, converted_folder(CATALOG[name], models))
    suite = tmp_path / "official.toml"
    suite.write_text("""
[suite]
name = "official"
dataset = "msmarco-dl19-mini"
measures = ["nDCG@10"]
depth = 20
baseline = "de"

[[variants]]
name = "de"
backend = "dense"
params = { model = "rocketqa:v1_marco_de", preset = "rocketqa", max_query_length = 8, max_passage_length = 12 }

[[variants]]
name = "ce"
backend = "cross-encoder"
params = { model = "rocketqa:v2_marco_ce", max_length = 12 }
rerank = { run_of = "de", depth = 5 }
""")
    env = {**os.environ, "RQBENCH_MODELS": str(models), "RQBENCH_DATA": str(data_root)}
    done = subprocess.run([sys.executable, "-m", "rqbench.cli", "run", str(suite), "--store", str(tmp_path / "st"),
                           "--results", str(tmp_path / "res")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (tmp_path / "res" / "official" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    by_name = {r["variant"]: r for r in records}
    assert set(by_name) == {"de", "ce"}
    index = next(s for s in by_name["de"]["stages"] if s["kind"] == "index")
    assert index["hash"]
    assert by_name["ce"]["config"]["params"]["pooling"] == "cls-raw"


def test_models_list_names_every_official_model_and_what_is_converted(tmp_path: Path) -> None:
    models = tmp_path / "models"
    convert_dir = converted_folder(CATALOG["v1_marco_de"], models)
    _official_layout(tmp_path / "src", "de", np.random.default_rng(6))
    convert(tmp_path / "src", convert_dir)
    env = {**os.environ, "RQBENCH_MODELS": str(models)}
    done = subprocess.run([sys.executable, "-m", "rqbench.cli", "models", "list"], capture_output=True, text=True,
                          env=env)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == len(CATALOG) and all(len(line) <= 80 for line in lines)
    assert lines[0].split() == ["rocketqa:v1_marco_de", "dual-encoder", "converted"]
    assert lines[1].split() == ["rocketqa:v1_marco_ce", "cross-encoder", "-"]


def test_backends_refuse_an_official_model_in_another_form(tmp_path: Path) -> None:
    """Planned offline, checked offline: the form a converted model needs is known from its name."""
    from rqbench.backend import build_params
    from rqbench_backends.cross_encoder import CrossEncoderParams
    from rqbench_backends.dense import DenseParams

    with pytest.raises(RqbenchError, match=r"reads the raw \[CLS\] vector.*set preset = 'rocketqa'"):
        build_params(DenseParams, {"model": "rocketqa:v1_marco_de"})
    assert build_params(DenseParams, {"model": "rocketqa:v1_marco_de", "preset": "rocketqa"}).pooling == "cls"
    with pytest.raises(RqbenchError, match="is a cross-encoder: use it with the cross-encoder backend"):
        build_params(DenseParams, {"model": "rocketqa:v1_marco_ce", "preset": "rocketqa"})
    with pytest.raises(RqbenchError, match="is a dual encoder: use it with the dense backend"):
        build_params(CrossEncoderParams, {"model": "rocketqa:v2_marco_de"})
    with pytest.raises(RqbenchError, match="scores through pooling 'cls-raw'"):
        build_params(CrossEncoderParams, {"model": "rocketqa:v2_marco_ce", "pooling": "cls"})
    assert build_params(CrossEncoderParams, {"model": "rocketqa:v2_marco_ce"}).pooling == "cls-raw"


def test_a_vocabulary_mixing_formats_or_missing_a_special_token_is_one_line(tmp_path: Path) -> None:
    _official_layout(tmp_path / "a", "de", np.random.default_rng(7))
    with (tmp_path / "a" / "vocab.txt").open("a") as fh:
        fh.write("\n")  # one line without its id
    with pytest.raises(RqbenchError, match=r"vocab.txt:9: not 'token<TAB>id' like the other lines"):
        convert(tmp_path / "a", tmp_path / "out_a")
    _official_layout(tmp_path / "b", "de", np.random.default_rng(7))
    (tmp_path / "b" / "vocab.txt").write_text("".join(f"{w}\t{i}\n" for i, w in enumerate(
        [w for w in VOCAB if w != "[UNK]"])))
    with pytest.raises(RqbenchError, match=r"the vocabulary has no \[UNK\] token"):
        convert(tmp_path / "b", tmp_path / "out_b")


def test_an_fp32_master_copy_wins_over_the_fp16_weight(tmp_path: Path) -> None:
    tensors = _official_layout(tmp_path / "src", "ce_v2", np.random.default_rng(8))
    name = "qtp_encoder_layer_0_ffn_fc_0.w_0"
    write_variable(tmp_path / "src" / "params" / f"{name}.master", tensors[name] + 1.0)
    record = convert(tmp_path / "src", tmp_path / "out")
    from safetensors.numpy import load_file

    state = load_file(tmp_path / "out" / "model.safetensors")
    np.testing.assert_array_equal(state["bert.encoder.layer.0.intermediate.dense.weight"], (tensors[name] + 1.0).T)
    assert record["tensors"]["skipped_training_state"] == 0 and record["tensors"]["converted"] == 5 + 16 * LAYERS + 2


def test_a_source_of_the_wrong_kind_is_refused_by_name(tmp_path: Path) -> None:
    _official_layout(tmp_path / "src", "ce_v1", np.random.default_rng(9))
    with pytest.raises(RqbenchError, match=r"rocketqa:v1_marco_de is a dual-encoder, but this folder holds a "
                                           r"cross-encoder"):
        import_official("rocketqa:v1_marco_de", tmp_path / "src", tmp_path / "out")
    with pytest.raises(RqbenchError, match=r"config.json describes a v1 re-ranker, which rocketqa:v2_marco_ce is not"):
        import_official("rocketqa:v2_marco_ce", tmp_path / "src", tmp_path / "out2")
