"""What a saved cross-encoder folder records beside its HF files (``rqbench_cross_encoder.json``), readable
without importing torch: the backend resolves its default pooling from it when a suite is planned."""

from __future__ import annotations

import json
from pathlib import Path

CROSS_ENCODER_CONFIG = "rqbench_cross_encoder.json"
# what the 1-logit head reads: the model's own [CLS] path (BERT: the pooler's dense + tanh), the mean token
# state, or the raw last-layer [CLS] state without the pooler (RocketQAv2's joint re-ranker)
POOLINGS = ("cls", "mean", "cls-raw")


def stored_settings(folder: str | Path) -> dict | None:
    """The settings a saved cross-encoder folder records, with `pooling` "cls" for a folder saved before
    pooling was recorded (it was trained through [CLS]); None when `folder` is no saved cross-encoder."""
    path = Path(folder) / CROSS_ENCODER_CONFIG
    if not path.is_file():
        return None
    settings = json.loads(path.read_text(encoding="utf-8"))
    settings.setdefault("pooling", "cls")
    return settings
