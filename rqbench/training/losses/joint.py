"""RocketQAv2's joint loss: dynamic listwise distillation of a re-ranker into a retriever (Ren et al., EMNLP
2021, arXiv 2110.07367, section 3.2; the official `joint_encoder.py`).

Each training instance is a list of K candidates of one query, its positive at index 0. The retriever
(dual encoder) scores them s_k = scale * q . p_k and the re-ranker (cross-encoder) gives one logit z_k each;
both become distributions over the list, P_de = softmax(s) and P_ce = softmax(z). The loss is

    L = mean_b CE(z_b, 0)  +  KL-term,    KL-term = mean_{b,k} P_ce[b,k] * (log P_ce[b,k] - log P_de[b,k])

the re-ranker's listwise cross-entropy with the positive as target, plus the KL divergence KL(P_ce || P_de)
averaged over all B*K elements, as the official code computes it (`fluid.layers.kldiv_loss(x=log P_de,
target=P_ce)`, reduction "mean": the element mean, not the batch mean, so it is the batch-mean KL / K).

Gradient routing: Paddle passes no gradient to `kldiv_loss`'s target, so in the official code the KL term
trains only the retriever; the re-ranker learns from its own listwise loss while the retriever follows it.
That is the default here (`kl_reaches_reranker=False`: P_ce is detached in the KL term). The paper's text
speaks of the two models improving each other; `kl_reaches_reranker=True` lets the KL gradient reach the
re-ranker too, so the difference can be measured.

The paper's ablation of the re-ranker (`reranker_loss`): "listwise" (the recipe above); "pointwise", a
binary cross-entropy per (query, candidate), positive 1 and negatives 0, averaged over the B*K elements, in
place of the listwise term (a pointwise re-ranker, RocketQA's v1 loss); "frozen", static distillation: no
re-ranker term, so the re-ranker's scores stay what they were (the task also freezes its weights and
dropout), and the retriever learns from them through the KL term alone.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn import functional as F


class JointLoss(NamedTuple):
    total: torch.Tensor  # reranker + kl
    reranker: torch.Tensor  # the re-ranker's listwise cross-entropy, mean over lists
    kl: torch.Tensor  # KL(P_ce || P_de), mean over every list element


RERANKER_LOSSES = ("listwise", "pointwise", "frozen")


def joint_loss(retriever_scores: torch.Tensor, reranker_logits: torch.Tensor,
               kl_reaches_reranker: bool = False, reranker_loss: str = "listwise") -> JointLoss:
    """The joint loss of [B, K] retriever scores and re-ranker logits, positives in column 0 (module docstring).

    Computed in float32 at least, outside any autocast region (softmax over a list in bf16 loses the small
    differences distillation is about)."""
    if retriever_scores.dim() != 2 or retriever_scores.shape != reranker_logits.shape:
        raise ValueError(f"expected two [B, K] tensors of one shape, got {tuple(retriever_scores.shape)} and "
                         f"{tuple(reranker_logits.shape)}")
    if retriever_scores.shape[1] < 2:
        raise ValueError("a list needs at least 2 candidates (a positive and a negative)")
    if reranker_loss not in RERANKER_LOSSES:
        raise ValueError(f"reranker_loss must be one of {', '.join(RERANKER_LOSSES)}, got {reranker_loss!r}")
    if reranker_loss == "frozen" and kl_reaches_reranker:
        raise ValueError("a frozen re-ranker (static distillation) takes no gradient: kl_reaches_reranker is off")
    dtype = torch.promote_types(retriever_scores.dtype, torch.float32)
    with torch.autocast(device_type=retriever_scores.device.type, enabled=False):
        s, z = retriever_scores.to(dtype), reranker_logits.to(dtype)
        if reranker_loss == "listwise":
            reranker = F.cross_entropy(z, torch.zeros(z.shape[0], dtype=torch.long, device=z.device))
        elif reranker_loss == "pointwise":
            labels = torch.zeros_like(z)
            labels[:, 0] = 1.0
            reranker = F.binary_cross_entropy_with_logits(z, labels)
        else:
            reranker = z.new_zeros(())
        teacher_log = F.log_softmax(z if kl_reaches_reranker else z.detach(), dim=1)
        kl = (teacher_log.exp() * (teacher_log - F.log_softmax(s, dim=1))).mean()
    return JointLoss(reranker + kl, reranker, kl)
