"""A dataset that is not on this machine, for planning only: `rqbench plan` shows a suite's graph before its data
is downloaded (an ir_datasets id offline, or without the package). Every split is taken to exist, and every
fingerprint is a provisional `pending:` value, so the stage hashes it feeds are provisional too: the plan
says so, and running the suite reads the real data (or stops with the reason, one line)."""

from __future__ import annotations

from typing import Any

from rqbench.data.dataset import Dataset

PENDING = "pending:"


class _AnySplit(dict):
    """A split table that claims every split, with no queries or qrels in any."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: Any) -> dict:
        return {}


class PendingDataset(Dataset):
    """`reason`: why the data cannot be read here (the DataUnavailable message)."""

    def __init__(self, name: str, source: str, reason: str):
        super().__init__(name=name, source=source, corpus={}, queries=_AnySplit(), qrels=_AnySplit(),
                         warnings=[reason])
        self.reason = reason

    def fingerprint(self, part: str) -> str:
        """Provisional. Ids that read one corpus get one corpus key, so a plan shows one index for them, as the
        real fingerprints will (`corpus_family`)."""
        if part == "corpus":
            return f"{PENDING}{corpus_family(self.source)}:corpus"
        return f"{PENDING}{self.source}:{part}"


# ir_datasets families whose every id reads one corpus (msmarco-passage/dev/small, .../trec-dl-2019/judged, ...)
SHARED_CORPUS = ("msmarco-passage", "msmarco-document", "msmarco-passage-v2", "msmarco-document-v2")


def corpus_family(dataset_id: str) -> str:
    """The provisional name of an ir_datasets id's corpus: the family for the families above; `beir/NAME` for
    BEIR (each dataset its own corpus, its splits one); otherwise the id less its last part (a split, mostly)."""
    parts = dataset_id.strip("/").split("/")
    if parts[0] in SHARED_CORPUS:
        return parts[0]
    if parts[0] == "beir" and len(parts) >= 2:
        return "/".join(parts[:2])
    return "/".join(parts[:-1]) if len(parts) > 1 else parts[0]


def is_pending(dataset: object) -> bool:
    return isinstance(dataset, PendingDataset)
