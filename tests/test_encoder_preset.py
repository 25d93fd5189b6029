"""The dense backend's `rocketqa` preset (RocketQAv2 issue, item 3): RocketQA's dual encoder form (raw [CLS],
no normalisation, two towers, a dot product at scale 1 in training) as named settings beside the MiniLM
defaults, so each choice can be an ablation row; `towers = "separate"` really trains two towers; and the
fields added for it leave every earlier artifact's hash alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from backends.dense import DenseBackend, DenseParams
from rqbench.backend import build_params, params_dict
from rqbench.errors import RqbenchError
from rqbench.models.dual_encoder import DualEncoder
from rqbench.plan import plan_suite
from rqbench.suite import load_suite
from rqbench.training.config import TrainConfig
from rqbench.training.groups import Passage, TrainingGroup, write_groups
from rqbench.training.tiny import make_tiny_bert
from rqbench.training.trainer import train_dual_encoder


def test_the_preset_fills_in_what_the_variant_does_not_set() -> None:
    p = build_params(DenseParams, {"preset": "rocketqa"})
    assert (p.pooling, p.normalize, p.towers, p.passage_input, p.preset) == ("cls", False, "separate", "title-sep",
                                                                             "rocketqa")
    mine = build_params(DenseParams, {"preset": "rocketqa", "pooling": "mean"})
    assert (mine.pooling, mine.normalize) == ("mean", False)  # an explicit setting wins
    assert (DenseParams().pooling, DenseParams().normalize, DenseParams().towers) == ("mean", True, "shared")


def test_an_unknown_preset_is_one_line_with_a_suggestion() -> None:
    with pytest.raises(RqbenchError, match=r"unknown preset 'rocketq'.*rocketqa"):
        build_params(DenseParams, {"preset": "rocketq"})


def test_fields_added_later_are_hashed_only_when_set() -> None:
    hashed = params_dict(DenseParams(), include_unhashed=False)
    assert "towers" not in hashed and "preset" not in hashed and "passage_input" not in hashed
    preset = params_dict(build_params(DenseParams, {"preset": "rocketqa"}), include_unhashed=False)
    assert (preset["towers"], preset["preset"], preset["pooling"], preset["normalize"]) == (
        "separate", "rocketqa", "cls", False)


SUITE = """
[suite]
name = "preset"
dataset = "scifact"
measures = ["RR@10"]

[[variants]]
name = "rq"
backend = "dense"
params = {{ preset = "rocketqa", max_query_length = 16, max_passage_length = 32 }}
train = {{ batch_size = 8, max_steps = 1{extra} }}

[[variants]]
name = "plain"
backend = "dense"
params = {{ max_query_length = 16, max_passage_length = 32 }}
train = {{ batch_size = 8, max_steps = 1 }}
"""


def trainer(tmp_path: Path, data_root: Path, extra: str = "") -> dict[str, dict]:
    path = tmp_path / "preset.toml"
    path.write_text(SUITE.format(extra=extra))
    graph = plan_suite(load_suite(path), data_root)
    return {p.variant.name: dict(p.steps)["train"].params.trainer for p in graph.evaluations}


def test_the_trainer_gets_the_presets_form_and_scale(tmp_path: Path, data_root: Path) -> None:
    settings = trainer(tmp_path, data_root)
    rq, plain = settings["rq"], settings["plain"]
    assert (rq["pooling"], rq["normalize"], rq["towers"], rq["scale"]) == ("cls", False, "separate", 1.0)
    assert (plain["pooling"], plain["normalize"], plain["scale"]) == ("mean", True, 20.0)
    assert "towers" not in plain  # at its default: the hash of every earlier training stays
    assert trainer(tmp_path, data_root, ", scale = 5.0")["rq"]["scale"] == 5.0  # train.scale wins


def groups(n: int) -> list[TrainingGroup]:
    words = ["cell", "gene", "tumour", "virus", "enzyme", "neuron", "insulin", "kinase", "dose", "trial"]

    def text(i: int, k: int) -> str:
        return " ".join(words[(i * 3 + j * 7) % len(words)] for j in range(k)) + f" case {i}"

    return [TrainingGroup(f"q{i}", text(i, 3), (Passage(f"d{i}", text(i + 50, 10)),),
                          (Passage(f"n{i}", text(i + 90, 10)),)) for i in range(n)]


def test_separate_towers_start_from_one_model_and_train_apart(tmp_path: Path) -> None:
    tiny = make_tiny_bert(tmp_path / "tiny", seed=3)
    path = tmp_path / "groups.jsonl"
    write_groups(groups(16), path)
    config = TrainConfig(model=str(tiny), pooling="cls", normalize=False, towers="separate", scale=1.0,
                         max_query_length=12, max_passage_length=16, batch_size=4, max_steps=3, lr=1e-3,
                         hard_negatives_per_query=1, threads=1, seed=5)
    out = train_dual_encoder(path, config, tmp_path / "out", progress=False)
    assert (out / "query").is_dir() and (out / "passage").is_dir()
    model = DualEncoder.load(str(out))
    assert not model.config.shared and model.config.pooling == "cls" and not model.config.normalize
    start = DualEncoder.load(str(tiny)).query_tower.state_dict()
    query, passage = model.query_tower.state_dict(), model.passage_tower.state_dict()
    name = "embeddings.word_embeddings.weight"
    assert not torch.equal(query[name], start[name]) and not torch.equal(passage[name], start[name])
    assert not torch.equal(query[name], passage[name])  # two towers, each trained on its own side
    # a two-tower model cannot train as one tower: a one-line error, not a silent two-tower run
    with pytest.raises(RqbenchError, match="two-tower model; training it needs towers = 'separate'"):
        DualEncoder.for_training(str(out), TrainConfig(model=str(out)))
    # ... and with towers = 'separate' it trains on from its own two towers (a warm start from a two-tower md0)
    again = DualEncoder.for_training(str(out), TrainConfig(model=str(out), towers="separate", pooling="cls"))
    assert not again.config.shared and again.config.pooling == "cls"
    assert torch.equal(again.query_tower.state_dict()[name], query[name])
    assert torch.equal(again.passage_tower.state_dict()[name], passage[name])
    # the dense backend reads both towers of the saved folder
    backend = DenseBackend(DenseParams(model=str(out), max_query_length=12, max_passage_length=16, threads=1))
    loaded = backend.model()
    assert not loaded.config.shared
    assert torch.equal(loaded.passage_tower.state_dict()[name], passage[name])


def test_title_sep_reads_title_and_text_as_a_pair(tmp_path: Path, data_root: Path) -> None:
    """passage_input = 'title-sep': [CLS] title [SEP] text [SEP], segment 0 then 1; the groups keep each passage's
    title so training reads passages as retrieval does; groups without titles are refused in one line."""
    from rqbench.data import load_dataset
    from rqbench.models.dual_encoder import EncoderConfig, passage_string
    from rqbench.training.groups import groups_from_qrels, read_groups
    from rqbench.training.tasks import make_task
    from rqbench.types import Doc

    tiny = make_tiny_bert(tmp_path / "tiny", seed=4)
    pair = DualEncoder(str(tiny), config=EncoderConfig(passage_input="title-sep", max_passage_length=32))
    joined = DualEncoder(str(tiny), config=EncoderConfig(max_passage_length=32))
    doc = Doc("d1", "insulin dose", "the trial measured risk")
    backend = DenseBackend(DenseParams(model=str(tiny), passage_input="title-sep", max_passage_length=32, threads=1))
    text = backend._doc_text(doc)
    assert text == passage_string(doc.title, doc.contents(), "title-sep")  # retrieval and training agree
    ids = pair.tokenize([text], "passage")
    types = ids["token_type_ids"][0][ids["attention_mask"][0].bool()].tolist()
    sep = pair.passage_tokenizer.sep_token_id
    first_sep = ids["input_ids"][0].tolist().index(sep)
    assert types[:first_sep + 1] == [0] * (first_sep + 1) and set(types[first_sep + 1:]) == {1}
    plain = joined.tokenize([doc.contents()], "passage")
    assert set(plain["token_type_ids"][0].tolist()) == {0}
    no_title = pair.tokenize([passage_string("", "only text", "title-sep")], "passage")
    assert no_title["input_ids"][0][1].item() == sep  # [CLS] [SEP] text [SEP]: an empty title

    scifact = load_dataset("scifact", data_root)
    groups = groups_from_qrels(scifact, "train")[:8]
    assert all(p.title == scifact.corpus[p.id].title for g in groups for p in g.positives)
    path = tmp_path / "g.jsonl"
    write_groups(groups, path)
    assert read_groups(path) == groups  # titles survive the file
    old = tmp_path / "old.jsonl"
    old.write_text(path.read_text().replace('"title": ', '"x-title": '))
    config = TrainConfig(model=str(tiny), passage_input="title-sep", max_steps=1, batch_size=4, threads=1)
    with pytest.raises(RqbenchError, match="written without titles"):
        make_task("dual-encoder", old, config).passage_strings(list(read_groups(old)[0].positives))
    strings = make_task("dual-encoder", path, config).passage_strings(list(groups[0].positives))
    doc0 = scifact.corpus[groups[0].positives[0].id]
    assert strings == [f"{doc0.title}\x1f{doc0.text}"]
    # a groups artifact an older rqbench wrote without titles (same hash as today's): the train stage reads a copy
    # titled from the planned corpus, the same groups today's stage writes; a passage the corpus does not match
    # (another text) keeps no title, so the trainer still refuses it
    from types import SimpleNamespace

    from rqbench.stages.train import _readable_groups
    from rqbench.training.groups import Passage, titles_from_corpus

    legacy = tmp_path / "legacy" / "groups.jsonl"
    legacy.parent.mkdir()
    write_groups([TrainingGroup(g.query_id, g.query, tuple(Passage(p.id, p.text) for p in g.positives),
                                tuple(Passage(p.id, p.text) for p in g.negatives)) for g in groups], legacy)
    ctx = SimpleNamespace(input_path=lambda role: legacy.parent, node=SimpleNamespace(dataset=scifact),
                          dataset=scifact)
    readable = _readable_groups(ctx, config, tmp_path / "scratch")
    assert readable != legacy and read_groups(readable) == groups
    assert _readable_groups(ctx, TrainConfig(model=str(tiny)), tmp_path / "scratch2") == legacy  # joined: as is
    other = Passage(groups[0].positives[0].id, "another text")
    [kept] = titles_from_corpus([TrainingGroup("q", "query", (other,))], scifact.corpus)
    assert kept.positives[0].title is None
