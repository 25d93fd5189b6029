"""EncoderSpec: the settings that define a transformer encoder, declared once (imports no torch).

Owns the names, defaults and validation of the fields every encoder kind shares: which model, how token
states are pooled into one vector, whether it is L2-normalised, the query/passage truncation lengths, and
whether queries and passages share one tower or train two (both initialised from `model`), and how a passage
is read: "joined" (title and text as one string, as BEIR and sentence-transformers do) or "title-sep" (the
pair `[CLS] title [SEP] text [SEP]` with segment ids 0 and 1, RocketQA's passage input).
The dense backend's `DenseParams` and the trainer's `TrainConfig` inherit them (frozen dataclass
inheritance), so a suite sets them under one name and they cannot drift apart; `ENCODER_FIELDS` lists
them for code that copies them from one to the other (a train stage takes them from the variant's
backend parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

POOLINGS = ("cls", "mean")
TOWERS = ("shared", "separate")
PASSAGE_INPUTS = ("joined", "title-sep")
ENCODER_CONFIG = "rqbench_encoder.json"  # written by `DualEncoder.save` next to the HF files
TITLE_SEP = "\x1f"  # joins title and text in a passage string read as a pair (`passage_input = "title-sep"`)
# Fields added after artifacts were made: left out of hashes while at these defaults, so that every earlier
# stage keeps its hash (and its cached artifact) and only a changed value names a new one.
ENCODER_ADDED_LATER: dict[str, object] = {"towers": "shared", "passage_input": "joined"}


@dataclass(frozen=True)
class EncoderSpec:
    """`model`: "minilm" (the packaged all-MiniLM-L6-v2), a model folder, or a Hugging Face id."""

    model: str = "minilm"
    pooling: Literal["cls", "mean"] = "mean"
    normalize: bool = True
    max_query_length: int = 64
    max_passage_length: int = 256
    towers: Literal["shared", "separate"] = "shared"
    passage_input: Literal["joined", "title-sep"] = "joined"

    def __post_init__(self) -> None:
        self._check_encoder()

    def _check_encoder(self) -> None:
        """Validate the encoder fields (subclasses call it from their own `__post_init__`)."""
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a non-empty string (a model folder, an HF id, or 'minilm')")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        if self.towers not in TOWERS:
            raise ValueError(f"towers must be 'shared' or 'separate', got {self.towers!r}")
        if self.passage_input not in PASSAGE_INPUTS:
            raise ValueError(f"passage_input must be 'joined' or 'title-sep', got {self.passage_input!r}")
        for name in ("max_query_length", "max_passage_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


ENCODER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EncoderSpec))
