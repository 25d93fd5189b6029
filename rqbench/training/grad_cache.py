"""Cached-gradient batches (GradCache: Gao, Zhang, Han and Callan, RepL4NLP 2021, arXiv 2101.06983): a
contrastive batch far larger than the activations one device can hold, with the gradient of the whole batch.

A contrastive loss couples every query with every passage of the batch, so plain gradient accumulation
cannot enlarge it (the negatives of a micro-batch are only its own). GradCache splits the step in three:

1. encode every text in chunks of `chunk` without building a graph: the representations of the whole batch;
2. compute the loss on those representations, made leaf tensors, and backpropagate to them only: dL/d(rep),
   for every query and passage (cheap: the loss sees vectors, not encoders);
3. encode each chunk again with a graph and backpropagate the surrogate rep . dL/d(rep): by the chain rule
   its parameter gradient is that chunk's share of dL/dθ; the chunks' shares add up to dL/dθ.

Peak activation memory is that of one chunk; the cost is a second forward pass. The result is the full
batch's gradient, exactly up to float rounding (tests/test_grad_cache.py: one process and, composed with
cross-batch negatives, two gloo processes, each against the plain full-batch step). Dropout: each chunk's
random state is recorded before its first pass and replayed for its second, so both passes draw the same
masks and step 3 differentiates exactly the function step 1 evaluated; those masks are drawn chunk by chunk,
so with dropout a cached step differs from an unchunked forward (other masks, the same distribution); without
dropout it agrees to float rounding (each chunk is padded to its own longest text: about 1e-7).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

Encode = Callable[[list[str]], torch.Tensor]  # texts -> [n, d] representations (a graph when grad is on)


def chunks(n: int, size: int) -> list[slice]:
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _rng_state(device: torch.device) -> tuple[torch.Tensor, Any]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[torch.Tensor, Any], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def cached_backward(sides: list[tuple[Encode, list[str]]], chunk: int, loss_of: Callable[..., torch.Tensor],
                    backward: Callable[[torch.Tensor], None], device: torch.device,
                    forward_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                    ) -> float:
    """One cached-gradient step: the parameter gradients of `loss_of(*reps)` accumulated into `.grad`, where
    reps[i] is sides[i]'s encoder applied to its texts (the whole batch); returns the loss value.

    `backward(loss)` backpropagates the loss to the representations (the caller may scale it first, as a
    GradScaler does: the scaled gradients then flow on to the parameters). Forward passes run inside
    `forward_context()` (autocast); no backward does."""
    states: list[list[tuple[torch.Tensor, Any]]] = []
    leaves: list[torch.Tensor] = []
    for encode, texts in sides:  # 1. every representation, no graph
        side_states, parts = [], []
        for part in chunks(len(texts), chunk):
            side_states.append(_rng_state(device))
            with torch.no_grad(), forward_context():
                parts.append(encode(texts[part]))
        states.append(side_states)
        leaves.append(torch.cat(parts).detach().requires_grad_(True))
    after = _rng_state(device)
    with forward_context():  # 2. the loss on the representations, backpropagated to them only
        loss = loss_of(*leaves)
    backward(loss)
    for (encode, texts), side_states, leaf in zip(sides, states, leaves, strict=True):  # 3. chunk by chunk
        grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
        for part, state in zip(chunks(len(texts), chunk), side_states, strict=True):
            _set_rng_state(state, device)  # the same dropout masks as in pass 1
            with forward_context():
                rep = encode(texts[part])
            rep.backward(grad[part].to(rep.dtype))
    _set_rng_state(after, device)  # the stream goes on as after pass 1 (pass 2 replayed draws, took none)
    return float(loss.detach())
