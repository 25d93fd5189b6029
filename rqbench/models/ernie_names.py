"""The parameter names of an ERNIE tower as RocketQA builds it, and their Hugging Face BERT equivalents.

Written from the official model definition (PaddlePaddle/RocketQA `rocketqa/model/ernie.py`, whose encoder is
ERNIE's `transformer_encoder.py`): every parameter of a tower is named `prefix + base`, the prefix being the
tower's `model_name` ('' for the v1 cross-encoder, 'query_' and 'titlepara_' for the dual encoder's towers,
'qtp_' for RocketQAv2's joint cross-encoder). The encoder is post-LN ("dan": dropout, residual add, layer
norm), as BERT's, with Paddle's layer-norm epsilon 1e-5. Paddle's fully connected weights are stored
[in, out] and are transposed for torch's Linear ([out, in]).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TOWER_PREFIXES = ("", "query_", "titlepara_", "qtp_")


@dataclass(frozen=True)
class Mapped:
    paddle: str  # the variable's name in the checkpoint
    hf: str  # the state-dict key in the HF model
    transpose: bool  # a Paddle fc weight: [in, out] -> [out, in]


def tower_names(prefix: str, layers: int, hf_prefix: str = "") -> list[Mapped]:
    """Every parameter of one ERNIE tower (without the task embedding, which is folded, see
    `TASK_EMBEDDING`), mapped to `hf_prefix` + a BertModel key."""
    out = [
        Mapped(f"{prefix}word_embedding", "embeddings.word_embeddings.weight", False),
        Mapped(f"{prefix}pos_embedding", "embeddings.position_embeddings.weight", False),
        Mapped(f"{prefix}sent_embedding", "embeddings.token_type_embeddings.weight", False),
        Mapped(f"{prefix}pre_encoder_layer_norm_scale", "embeddings.LayerNorm.weight", False),
        Mapped(f"{prefix}pre_encoder_layer_norm_bias", "embeddings.LayerNorm.bias", False),
    ]
    for i in range(layers):
        p, h = f"{prefix}encoder_layer_{i}_", f"encoder.layer.{i}."
        for part in ("query", "key", "value"):
            out += [Mapped(f"{p}multi_head_att_{part}_fc.w_0", f"{h}attention.self.{part}.weight", True),
                    Mapped(f"{p}multi_head_att_{part}_fc.b_0", f"{h}attention.self.{part}.bias", False)]
        out += [
            Mapped(f"{p}multi_head_att_output_fc.w_0", f"{h}attention.output.dense.weight", True),
            Mapped(f"{p}multi_head_att_output_fc.b_0", f"{h}attention.output.dense.bias", False),
            Mapped(f"{p}post_att_layer_norm_scale", f"{h}attention.output.LayerNorm.weight", False),
            Mapped(f"{p}post_att_layer_norm_bias", f"{h}attention.output.LayerNorm.bias", False),
            Mapped(f"{p}ffn_fc_0.w_0", f"{h}intermediate.dense.weight", True),
            Mapped(f"{p}ffn_fc_0.b_0", f"{h}intermediate.dense.bias", False),
            Mapped(f"{p}ffn_fc_1.w_0", f"{h}output.dense.weight", True),
            Mapped(f"{p}ffn_fc_1.b_0", f"{h}output.dense.bias", False),
            Mapped(f"{p}post_ffn_layer_norm_scale", f"{h}output.LayerNorm.weight", False),
            Mapped(f"{p}post_ffn_layer_norm_bias", f"{h}output.LayerNorm.bias", False),
        ]
    return [Mapped(m.paddle, hf_prefix + m.hf, m.transpose) for m in out]


TASK_EMBEDDING = "task_embedding"  # prefix + this, only with use_task_id: row task_id is added to every token

# RocketQA v1's cross-encoder head: pooled [CLS] (dense + tanh) -> fc to 2 labels, softmax, P = probs[:, 1]
CE_V1_POOLER = (Mapped("pooled_fc.w_0", "bert.pooler.dense.weight", True),
                Mapped("pooled_fc.b_0", "bert.pooler.dense.bias", False))
CE_V1_HEAD = ("_cls_out_w", "_cls_out_b")  # [H, 2], [2]: folded into one logit, see rocketqa_convert
# RocketQAv2's joint cross-encoder head: the raw last-layer [CLS] -> fc to 1 logit (no pooler, no softmax)
CE_V2_HEAD = (Mapped("qtp__cls_out_w", "classifier.weight", True),
              Mapped("qtp__cls_out_b", "classifier.bias", False))

# Training state saved beside the parameters (`save_persistables` keeps optimizer and scheduler variables):
# not part of the model, skipped and counted.
_TRAINING_STATE = re.compile(
    r"(_moment[12]_\d+|_beta[12]_pow_acc_\d+|\.master|_fp32_master_\d+|_velocity_\d+)$"
    r"|^(learning_rate_\d+|@LR_DECAY_COUNTER@|@step_counter@|loss_scaling_\d+|num_(good|bad)_steps_\d+)$")


def is_training_state(name: str) -> bool:
    return _TRAINING_STATE.search(name) is not None


def known_model_names(layers: int) -> set[str]:
    """Every parameter name any RocketQA model of `layers` layers may hold (all towers and heads), so that a
    checkpoint's tensor outside the converted model is recognised (listed as skipped) or not (an error)."""
    names = {m.paddle for prefix in TOWER_PREFIXES for m in tower_names(prefix, layers)}
    names |= {prefix + TASK_EMBEDDING for prefix in TOWER_PREFIXES}
    names |= {m.paddle for m in (*CE_V1_POOLER, *CE_V2_HEAD)} | set(CE_V1_HEAD)
    return names
