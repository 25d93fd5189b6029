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
        """Provisional. The corpus is taken to be shared by the ids under one top-level name (ir_datasets'
        msmarco-passage/dev/small and msmarco-passage/trec-dl-2019 read the same passages), so a plan shows one
        index for them, as the real fingerprints will."""
        if part == "corpus":
            return f"{PENDING}{self.source.split('/')[0]}:corpus"
        return f"{PENDING}{self.source}:{part}"


def is_pending(dataset: object) -> bool:
    return isinstance(dataset, PendingDataset)
