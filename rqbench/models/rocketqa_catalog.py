"""The official RocketQA models: the names `rocketqa.load_model` takes, where each tarball is published and its
MD5, as listed in PaddlePaddle/RocketQA `rocketqa/rocketqa.py`. A name with `_de` is a dual encoder, `_ce` a
cross-encoder (the toolkit's own rule). There is no `v2_nq_ce` in the toolkit.

A suite names one as `model = "rocketqa:v1_marco_de"`; `rqbench models import` converts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rqbench.errors import RqbenchError, did_you_mean

PREFIX = "rocketqa:"
BASE_URL = "http://rocketqa.bj.bcebos.com/RocketQAModels/"

_MD5 = {
    "v1_marco_de": "d8210e4080935bd7fdad7a394cd60b66",
    "v1_marco_ce": "caec5aedc46f22edd7107ecd793fc7fb",
    "v1_nq_de": "cfeb70f82087b8a47bb0d6d6cfcd61c5",
    "v1_nq_ce": "15aac78d70cc25994016b8a30d80f12c",
    "pair_marco_de": "b4080ffa2999525e5ba2aa1f4e03a9e8",
    "pair_nq_de": "d770bc379ec6def7e0588ec02c80ace2",
    "v2_marco_de": "4ce64ff35d1d831f0ca989e49abde227",
    "v2_marco_ce": "915ea7ff214a4a92a3a1e1d56c3fb469",
    "v2_nq_de": "8f177aa75cadaad6656dcd981edc983b",
    "zh_dureader_de": "39811675289c311236c667ad57ebd2d2",
    "zh_dureader_ce": "11caeb179febc5f0a55fa10ae3f2d123",
    "zh_dureader_de_v2": "889e62b0091bc350622549b57a2616ec",
    "zh_dureader_ce_v2": "552675c98c546e798a33cc84325921f6",
}


@dataclass(frozen=True)
class OfficialModel:
    name: str
    md5: str

    @property
    def kind(self) -> Literal["dual-encoder", "cross-encoder"]:
        return "dual-encoder" if "_de" in self.name else "cross-encoder"

    @property
    def pooling(self) -> str:
        """A cross-encoder's head input: RocketQAv2's joint re-ranker reads the raw [CLS] state ("cls-raw"),
        v1's the pooled [CLS] ("cls"). The DuReader v2 re-ranker is taken as v1-style: its config was not seen."""
        return "cls-raw" if self.name == "v2_marco_ce" else "cls"

    @property
    def url(self) -> str:
        return f"{BASE_URL}{self.name}.tar.gz"

    @property
    def tarball(self) -> str:
        return f"{self.name}.tar.gz"


CATALOG: dict[str, OfficialModel] = {name: OfficialModel(name, md5) for name, md5 in _MD5.items()}


def is_official(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def official_model(name: str) -> OfficialModel:
    """The catalog entry of `rocketqa:NAME` (or a bare NAME); an unknown name is one line."""
    short = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if short not in CATALOG:
        extra = " (the toolkit publishes no v2_nq_ce)" if short == "v2_nq_ce" else ""
        raise RqbenchError(f"unknown RocketQA model '{short}'{extra}" + did_you_mean(short, CATALOG))
    return CATALOG[short]
