"""Build small random RocketQA models with PaddlePaddle itself, in the official layout, and their reference outputs.

Run as a script (`python tests/paddle_rocketqa_fixture.py OUT`) in its own process: paddle and torch are not
imported together. Independent of rqbench: the ERNIE forward below is written from the official model
definition (PaddlePaddle/RocketQA `rocketqa/model/ernie.py` and ERNIE's `transformer_encoder.py`: post-LN,
Paddle's layer-norm epsilon, q scaled by d**-0.5, the mask bias (m mᵀ - 1) x 10000), the input layouts from the
official readers (`reader_de_predict.py`, `reader_ce_predict.py`), and the parameters are saved one file per
variable as `fluid.io.save_persistables` saves them (the released tarballs' form).

OUT gets four model folders as `rocketqa.load_model` unpacks them (config.json, the ERNIE json, an ERNIE-style
`token<TAB>id` vocabulary, a checkpoint folder) and `reference.json` with the texts and the scores:

  de        dual encoder, towers query_ / titlepara_, gelu, 4 segment types (ERNIE 2.0 en)
  de_pair   dual encoder with share_parameter = 1 (one titlepara_ tower)
  ce_v1     v1 cross-encoder: unprefixed tower, pooled_fc + 2-label head (softmax, P of label 1), a task
            embedding (use_task_id), relu, optimizer state left in the checkpoint folder
  ce_v2     v2 joint cross-encoder: qtp_ tower, raw [CLS] + 1-unit head, and the joint run's query_ tower
            left in the checkpoint (a joint checkpoint holds both models)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F

TEXT = ("what is the cause of fever in children a virus bacteria infection can lead to high temperature "
         "treatment rest water doctor aspirin should not be given young patients study trial results show "
         "effect dose blood cells immune response protein gene expression mouse model cancer risk")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(TEXT.split()))]
HIDDEN, LAYERS, HEADS = 32, 2, 4

QUERIES = ["what is the cause of fever in children", "Aspirin dose for young patients",
           "gene expression in mouse model of cancer"]
PASSAGES = [  # (title, text)
    ("fever", "a virus or bacteria infection can lead to high temperature in children"),
    ("", "aspirin should not be given to young patients with fever"),
    ("cancer risk study", "trial results show the effect of gene expression on cancer risk in a mouse model "
     "blood cells immune response protein dose treatment rest water doctor"),
    ("immune response protein gene expression mouse model cancer risk blood cells", "rest"),
]
PAIRS = [(q, i) for q in range(len(QUERIES)) for i in range(len(PASSAGES))]


def ernie_json(act: str, sent_types: int, max_pos: int, task_types: int = 0) -> dict:
    config = {"attention_probs_dropout_prob": 0.1, "hidden_act": act, "hidden_dropout_prob": 0.1,
              "hidden_size": HIDDEN, "initializer_range": 0.02, "max_position_embeddings": max_pos,
              "num_attention_heads": HEADS, "num_hidden_layers": LAYERS, "type_vocab_size": sent_types,
              "vocab_size": len(VOCAB) + 3}  # a few unused rows, as real vocab tables may have
    if task_types:
        config |= {"use_task_id": True, "task_type_vocab_size": task_types}
    return config


def tokens(text: str) -> list[int]:
    ids = {w: i for i, w in enumerate(VOCAB)}
    return [ids.get(w, 1) for w in text.lower().split()]


def truncate_pair(a: list[int], b: list[int], budget: int) -> None:
    """The official readers' `_truncate_seq_pair`: pop from the longer one (from b on a tie)."""
    while len(a) + len(b) > budget:
        (a if len(a) > len(b) else b).pop()


def query_input(text: str, max_len: int) -> tuple[list[int], list[int]]:
    q = tokens(text)[:max_len - 2]
    return [2, *q, 3], [0] * (len(q) + 2)


def passage_input(title: str, text: str, max_len: int) -> tuple[list[int], list[int]]:
    t, p = tokens(title), tokens(text)
    truncate_pair(t, p, max_len - 3)
    return [2, *t, 3, *p, 3], [0] * (len(t) + 2) + [1] * (len(p) + 1)


def pair_input(query: str, title: str, text: str, max_len: int) -> tuple[list[int], list[int]]:
    q, tp = tokens(query), tokens(title) + tokens(text)  # no [SEP] between title and para
    truncate_pair(q, tp, max_len - 3)
    return [2, *q, 3, *tp, 3], [0] * (len(q) + 2) + [1] * (len(tp) + 1)


def batch(rows: list[tuple[list[int], list[int]]]) -> dict[str, np.ndarray]:
    width = max(len(ids) for ids, _ in rows)
    src = np.zeros((len(rows), width, 1), np.int64)
    sent = np.zeros_like(src)
    mask = np.zeros((len(rows), width, 1), np.float32)
    for r, (ids, segs) in enumerate(rows):
        src[r, :len(ids), 0], sent[r, :len(ids), 0], mask[r, :len(ids), 0] = ids, segs, 1
    pos = np.tile(np.arange(width, dtype=np.int64)[None, :, None], (len(rows), 1, 1))
    return {"src_ids": src, "sent_ids": sent, "pos_ids": pos, "task_ids": np.zeros_like(src), "input_mask": mask}


class Builder:
    """Parameters named as the official model names them, with random values large enough to matter."""

    def __init__(self) -> None:
        self.params: list = []

    def param(self, name: str, shape: list[int], mean: float = 0.0, std: float = 0.2):
        init = paddle.nn.initializer.Normal(mean=mean, std=std)
        p = paddle.static.create_parameter(shape, "float32", name=name, default_initializer=init)
        self.params.append(p)
        return p

    def fc(self, x, size: int, w: str, b: str):
        return paddle.matmul(x, self.param(w, [x.shape[-1], size])) + self.param(b, [size], std=0.1)

    def layer_norm(self, x, name: str):
        return F.layer_norm(x, [HIDDEN], weight=self.param(name + "_layer_norm_scale", [HIDDEN], 1.0, 0.1),
                            bias=self.param(name + "_layer_norm_bias", [HIDDEN], 0.0, 0.1), epsilon=1e-5)

    def ernie(self, prefix: str, inputs: dict, config: dict):
        def emb(ids, rows: int, name: str):  # small: the first layer norm's epsilon then matters (1e-5 != 1e-12)
            return F.embedding(paddle.squeeze(ids, axis=-1), self.param(prefix + name, [rows, HIDDEN], std=0.01))

        x = emb(inputs["src_ids"], config["vocab_size"], "word_embedding")
        x = x + emb(inputs["pos_ids"], config["max_position_embeddings"], "pos_embedding")
        x = x + emb(inputs["sent_ids"], config["type_vocab_size"], "sent_embedding")
        if config.get("use_task_id"):
            x = x + emb(inputs["task_ids"], config["task_type_vocab_size"], "task_embedding")
        x = self.layer_norm(x, prefix + "pre_encoder")
        mask = inputs["input_mask"]
        bias = (paddle.matmul(mask, mask, transpose_y=True) - 1.0) * 10000.0
        bias = paddle.unsqueeze(bias, axis=1)  # [B, 1, S, S]: the same for every head
        act = F.gelu if config["hidden_act"] == "gelu" else F.relu
        d = HIDDEN // HEADS
        for i in range(config["num_hidden_layers"]):
            name = f"{prefix}encoder_layer_{i}_"

            def heads(t):
                return paddle.transpose(paddle.reshape(t, [0, 0, HEADS, d]), [0, 2, 1, 3])

            q = heads(self.fc(x, HIDDEN, name + "multi_head_att_query_fc.w_0", name + "multi_head_att_query_fc.b_0"))
            k = heads(self.fc(x, HIDDEN, name + "multi_head_att_key_fc.w_0", name + "multi_head_att_key_fc.b_0"))
            v = heads(self.fc(x, HIDDEN, name + "multi_head_att_value_fc.w_0", name + "multi_head_att_value_fc.b_0"))
            weights = F.softmax(paddle.matmul(q * d ** -0.5, k, transpose_y=True) + bias)
            context = paddle.reshape(paddle.transpose(paddle.matmul(weights, v), [0, 2, 1, 3]), [0, 0, HIDDEN])
            out = self.fc(context, HIDDEN, name + "multi_head_att_output_fc.w_0", name + "multi_head_att_output_fc.b_0")
            x = self.layer_norm(x + out, name + "post_att")
            hidden = act(self.fc(x, 4 * HIDDEN, name + "ffn_fc_0.w_0", name + "ffn_fc_0.b_0"))
            x = self.layer_norm(x + self.fc(hidden, HIDDEN, name + "ffn_fc_1.w_0", name + "ffn_fc_1.b_0"),
                                name + "post_ffn")
        return x[:, 0]  # the raw last-layer [CLS] state


def feeds(prefix: str) -> dict:
    return {k: paddle.static.data(prefix + k, [-1, -1, 1], "float32" if k == "input_mask" else "int64")
            for k in ("src_ids", "sent_ids", "pos_ids", "task_ids", "input_mask")}


def save_model(out: Path, builder: Builder, exe, main, settings: dict, ernie: dict, extra: dict | None = None) -> None:
    out.mkdir(parents=True)
    paddle.static.save_vars(exe, str(out / "params"), main, vars=builder.params)
    for name, array in (extra or {}).items():  # variables the official checkpoints hold beside the model
        var = paddle.static.create_parameter(list(array.shape), "float32", name=name)
        paddle.static.global_scope().var(name).get_tensor().set(array, paddle.CPUPlace())
        paddle.static.save_vars(exe, str(out / "params"), main, vars=[var])
    (out / "ernie_config.json").write_text(json.dumps(ernie), encoding="utf-8")
    (out / "vocab.txt").write_text("".join(f"{w}\t{i}\n" for i, w in enumerate(VOCAB)), encoding="utf-8")
    settings |= {"model_conf_path": "ernie_config.json", "model_vocab_path": "vocab.txt",
                 "model_checkpoint_path": "params", "for_cn": False}
    (out / "config.json").write_text(json.dumps(settings), encoding="utf-8")


def dual_encoder(out: Path, shared: bool) -> dict:
    """Two towers (query_, titlepara_), or with `shared` the one titlepara_ tower run on both inputs."""
    ernie = ernie_json("gelu", 4, 64)
    q_max, p_max = 8, 16
    main, startup = paddle.static.Program(), paddle.static.Program()
    builder = Builder()
    with paddle.static.program_guard(main, startup):
        qf = feeds("q_")
        q_rep = builder.ernie("titlepara_" if shared else "query_", qf, ernie)
        pf = qf if shared else feeds("p_")
        p_rep = q_rep if shared else builder.ernie("titlepara_", pf, ernie)
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    qb = batch([query_input(q, q_max) for q in QUERIES])
    pb = batch([passage_input(t, p, p_max) for t, p in PASSAGES])
    (q_out,) = exe.run(main, feed={"q_" + k: v for k, v in qb.items()} | ({} if shared else {
        "p_" + k: v for k, v in pb.items()}), fetch_list=[q_rep])
    (p_out,) = exe.run(main, feed={("q_" if shared else "p_") + k: v for k, v in pb.items()} | ({} if shared else {
        "q_" + k: v for k, v in qb.items()}), fetch_list=[p_rep])
    save_model(out, builder, exe, main, {"q_max_seq_len": q_max, "p_max_seq_len": p_max,
                                         "share_parameter": int(shared)}, ernie)
    return {"queries": np.asarray(q_out).tolist(), "passages": np.asarray(p_out).tolist()}


def cross_encoder(out: Path, joint: bool) -> dict:
    ernie = ernie_json("gelu", 4, 64) if joint else ernie_json("relu", 4, 64, task_types=3)
    max_len = 20
    main, startup = paddle.static.Program(), paddle.static.Program()
    builder = Builder()
    with paddle.static.program_guard(main, startup):
        f = feeds("")
        cls = builder.ernie("qtp_" if joint else "", f, ernie)
        if joint:
            score = builder.fc(cls, 1, "qtp__cls_out_w", "qtp__cls_out_b")[:, 0]
        else:
            pooled = paddle.tanh(builder.fc(cls, HIDDEN, "pooled_fc.w_0", "pooled_fc.b_0"))
            score = F.softmax(builder.fc(pooled, 2, "_cls_out_w", "_cls_out_b"))[:, 1]
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    rows = [pair_input(QUERIES[q], *PASSAGES[p], max_len) for q, p in PAIRS]
    (scores,) = exe.run(main, feed=batch(rows), fetch_list=[score])
    rng = np.random.default_rng(1)
    extra = ({"query_word_embedding": rng.normal(size=(len(VOCAB) + 3, HIDDEN)).astype(np.float32)} if joint else
             {"_cls_out_w_moment1_0": rng.normal(size=(HIDDEN, 2)).astype(np.float32),
              "learning_rate_0": np.array([1e-5], np.float32)})
    save_model(out, builder, exe, main, {"max_seq_len": max_len, "joint_training": int(joint)}, ernie, extra)
    return {"scores": np.asarray(scores).tolist()}


def main(out: Path) -> None:
    paddle.enable_static()
    paddle.seed(7)
    reference = {"queries": QUERIES, "passages": PASSAGES, "pairs": PAIRS,
                 "de": dual_encoder(out / "de", shared=False), "de_pair": dual_encoder(out / "de_pair", shared=True),
                 "ce_v1": cross_encoder(out / "ce_v1", joint=False), "ce_v2": cross_encoder(out / "ce_v2", joint=True),
                 "paddle": paddle.__version__}
    (out / "reference.json").write_text(json.dumps(reference), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
