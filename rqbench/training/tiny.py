"""A tiny random BERT (2 layers, width 32) saved as an HF folder with the packaged MiniLM tokenizer.

Owns nothing but this fixture-like model: tests of the training maths and smoke runs of training
pipelines need a real transformer that trains in seconds on a CPU, and no download.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rqbench.models.hf import packaged_minilm


def make_tiny_bert(folder: str | Path, dropout: float = 0.0, seed: int = 0, hidden: int = 32,
                   layers: int = 2) -> Path:
    """Write a randomly initialised BertModel (seeded) and the MiniLM tokenizer into `folder`."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = Path(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = BertModel(config)
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
