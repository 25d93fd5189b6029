"""Convert an official RocketQA model folder (PaddlePaddle) into folders rqbench's backends load.

A RocketQA model folder, as `rocketqa.load_model` unpacks it, holds `config.json` (the toolkit's settings: its
keys are read in `rocketqa/encoder/{dual,cross}_encoder.py`), an ERNIE model json, a vocabulary and a
checkpoint folder of one file per variable, all named by config.json relative to the folder. The output:

* dual encoder: `DualEncoder.save`'s layout: `query/` and `passage/` BERT folders (one folder when the toolkit
  shares the towers, `share_parameter = 1`, the PAIR models) and `rqbench_encoder.json`: the raw last-layer
  [CLS] vector, no normalisation, dot product, the passage read as `[CLS] title [SEP] para [SEP]` with segment
  ids 0 / 1, the toolkit's query and passage lengths;
* v1 cross-encoder (`joint_training = 0`): a BERT sequence classifier whose pooled [CLS] (dense + tanh) feeds
  one logit. The official head has two labels and scores softmax(logits)[1]; softmax(l)[1] equals
  sigmoid(l1 - l0), so the two label rows are folded into one (w1 - w0, b1 - b0): the logit's sigmoid is the
  official probability, exactly;
* v2 cross-encoder (`joint_training = 1`): the raw last-layer [CLS] state feeds one logit, the official score
  (no pooler, no softmax); rqbench's cross-encoder reads it with pooling "cls-raw". The BERT folder's pooler is
  zero (the official model has none), so a plain HF tool, which reads the pooled path, gets a constant: load
  it through rqbench.

Every checkpoint tensor is accounted for: converted; another RocketQA tower's or head's (a joint checkpoint
holds the retriever and the re-ranker), skipped and listed; optimizer state, skipped and counted; anything
else is an error naming it. A missing tensor or a shape that disagrees with the ERNIE json is an error too.
`rqbench_conversion.json` records the source, the converter version and the accounting.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rqbench.errors import RqbenchError
from rqbench.models.cross_encoder_config import CROSS_ENCODER_CONFIG
from rqbench.models.ernie_names import (
    CE_V1_HEAD,
    CE_V1_POOLER,
    CE_V2_HEAD,
    TASK_EMBEDDING,
    Mapped,
    is_training_state,
    known_model_names,
    tower_names,
)
from rqbench.models.paddle_tensors import read_tensor, variable_files
from rqbench.models.spec import ENCODER_CONFIG

CONVERTER_VERSION = 1  # part of a converted model's identity: a change to the output bumps it
CONVERSION_RECORD = "rqbench_conversion.json"
LAYER_NORM_EPS = 1e-5  # Paddle's layer_norm default, which ERNIE uses (BERT's is 1e-12)


@dataclass(frozen=True)
class SourceModel:
    """A RocketQA model folder: its toolkit settings and where its parts are."""

    folder: Path
    settings: dict[str, Any]
    kind: Literal["dual-encoder", "cross-encoder"]
    ernie: dict[str, Any]
    vocab: Path
    checkpoint: Path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RqbenchError("file not found", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RqbenchError(f"not valid JSON ({exc})", path) from None
    if not isinstance(data, dict):
        raise RqbenchError("expected a JSON object", path)
    return data


def read_source(folder: str | Path) -> SourceModel:
    """The model folder's settings and parts, each checked to exist (one line naming what is wrong)."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise RqbenchError("no config.json here: not a RocketQA model folder", folder)
    settings = _read_json(config_path)
    if "model_type" in settings:  # a user's own checkpoint config names its type
        kind = {"dual_encoder": "dual-encoder", "cross_encoder": "cross-encoder"}.get(settings["model_type"])
        if kind is None:
            raise RqbenchError(f"model_type must be dual_encoder or cross_encoder, got {settings['model_type']!r}",
                               config_path)
    else:
        kind = "dual-encoder" if "q_max_seq_len" in settings else "cross-encoder"
    needed = ["model_conf_path", "model_vocab_path", "model_checkpoint_path",
              *(["q_max_seq_len", "p_max_seq_len"] if kind == "dual-encoder" else ["max_seq_len"])]
    for key in needed:
        if key not in settings:
            raise RqbenchError(f"missing key '{key}' (a {kind} config)", config_path)
    # the toolkit joins the model folder and each value as strings, so a leading "/" still means "in the folder"
    parts = {key: folder / str(settings[key]).lstrip("/") for key in ("model_conf_path", "model_vocab_path",
                                                                       "model_checkpoint_path")}
    for key, path in parts.items():
        if not path.exists():
            raise RqbenchError(f"{key} = '{settings[key]}': not found", config_path)
    return SourceModel(folder, settings, kind, _read_json(parts["model_conf_path"]), parts["model_vocab_path"],
                       parts["model_checkpoint_path"])


def _ernie_int(ernie: dict[str, Any], key: str, where: Path) -> int:
    value = ernie.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RqbenchError(f"'{key}' must be a whole number >= 1, got {value!r}", where)
    return value


def bert_config(source: SourceModel, num_labels: int | None = None) -> Any:
    """The transformers BertConfig equivalent to the ERNIE json (FFN width 4 x hidden, as ERNIE builds it)."""
    from transformers import BertConfig

    where = source.folder / str(source.settings["model_conf_path"]).lstrip("/")
    ernie = source.ernie
    hidden = _ernie_int(ernie, "hidden_size", where)
    act = ernie.get("hidden_act", "gelu")
    if act not in ("gelu", "relu"):
        raise RqbenchError(f"hidden_act '{act}' is not supported (gelu or relu)", where)
    extra = {"num_labels": num_labels, "architectures": ["BertForSequenceClassification"]} if num_labels else {}
    return BertConfig(
        vocab_size=_ernie_int(ernie, "vocab_size", where), hidden_size=hidden,
        num_hidden_layers=_ernie_int(ernie, "num_hidden_layers", where),
        num_attention_heads=_ernie_int(ernie, "num_attention_heads", where), intermediate_size=4 * hidden,
        hidden_act=act, hidden_dropout_prob=float(ernie.get("hidden_dropout_prob", 0.1)),
        attention_probs_dropout_prob=float(ernie.get("attention_probs_dropout_prob", 0.1)),
        max_position_embeddings=_ernie_int(ernie, "max_position_embeddings", where),
        type_vocab_size=int(ernie.get("sent_type_vocab_size") or _ernie_int(ernie, "type_vocab_size", where)),
        initializer_range=float(ernie.get("initializer_range", 0.02)), layer_norm_eps=LAYER_NORM_EPS,
        pad_token_id=0, **extra)


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def _tokens_in_order(vocab: Path) -> list[str]:
    """The vocabulary's tokens by id. ERNIE's files are `token<TAB>id` per line; BERT's a token per line; a file
    that mixes the two, or lacks a special token the inputs need, is an error naming the line or the token."""
    lines = vocab.read_text(encoding="utf-8").splitlines()
    tabbed = [len(p) == 2 and p[1].strip().isdigit() for p in (line.split("\t") for line in lines)]
    if any(tabbed):
        if not all(tabbed):
            bad = tabbed.index(False) + 1
            raise RqbenchError(f"not 'token<TAB>id' like the other lines: {lines[bad - 1][:40]!r}", vocab, bad)
        by_id = {int(i): token for token, i in (line.split("\t") for line in lines)}
        if sorted(by_id) != list(range(len(by_id))):
            raise RqbenchError("token ids are not 0..n-1", vocab)
        tokens = [by_id[i] for i in range(len(by_id))]
    else:
        tokens = lines
    for special in SPECIAL_TOKENS:
        if special not in tokens:
            raise RqbenchError(f"the vocabulary has no {special} token", vocab)
    return tokens


class _Tensors:
    """The checkpoint's variables, read on demand, and which of them the conversion used."""

    def __init__(self, checkpoint: Path):
        self.folder = checkpoint
        self.files = variable_files(checkpoint)
        self.used: set[str] = set()

    def take(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The parameter `name` as float32; when a mixed-precision checkpoint keeps an fp32 master copy beside
        the fp16 weight (`name.master`), the exact master copy."""
        if name not in self.files:
            raise RqbenchError(f"tensor '{name}' is missing from the checkpoint", self.folder)
        master = next((m for m in (name + ".master", name + "_fp32_master_0") if m in self.files), None)
        array = read_tensor(self.files[master or name]).astype(np.float32)
        if master is not None:
            self.used.add(master)
        if tuple(array.shape) != shape:
            raise RqbenchError(f"tensor '{name}' has shape {list(array.shape)}, the model json says {list(shape)}",
                               self.files[name])
        self.used.add(name)
        return array


def _fill(state: dict[str, Any], tensors: _Tensors, names: list[Mapped] | tuple[Mapped, ...]) -> None:
    import torch

    for m in names:
        target = tuple(state[m.hf].shape)
        array = tensors.take(m.paddle, target[::-1] if m.transpose else target)
        state[m.hf] = torch.from_numpy(np.ascontiguousarray(array.T if m.transpose else array))


def _fold_task_embedding(state: dict[str, Any], tensors: _Tensors, prefix: str, hf_prefix: str,
                         source: SourceModel) -> None:
    """With `use_task_id`, ERNIE adds task_embedding[task_id] to every token: the same vector for every
    token, so it folds exactly into each row of the segment embeddings."""
    import torch

    if not source.ernie.get("use_task_id"):
        return
    task_id = 0  # the toolkit's --task_id default; its load_model never sets another
    rows = int(source.ernie.get("task_type_vocab_size") or 0)
    table = tensors.take(prefix + TASK_EMBEDDING, (rows, int(source.ernie["hidden_size"])))
    key = hf_prefix + "embeddings.token_type_embeddings.weight"
    state[key] = state[key] + torch.from_numpy(table[task_id])


def _tower_state(model: Any, tensors: _Tensors, prefix: str, hf_prefix: str, source: SourceModel) -> dict:
    state = {k: v for k, v in model.state_dict().items()}
    _fill(state, tensors, tower_names(prefix, model.config.num_hidden_layers, hf_prefix))
    _fold_task_embedding(state, tensors, prefix, hf_prefix, source)
    return state


def _save_tokenizer(source: SourceModel, out: Path, max_length: int) -> None:
    from transformers import BertTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(_tokens_in_order(source.vocab)) + "\n", encoding="utf-8")
    lower = bool(source.settings.get("do_lower_case", True))
    tokenizer = BertTokenizerFast(str(out / "vocab.txt"), do_lower_case=lower,  # first argument: 4.x and 5.x
                                  model_max_length=max_length)
    tokenizer.save_pretrained(out)


def _convert_dual_encoder(source: SourceModel, tensors: _Tensors, out: Path) -> dict[str, Any]:
    from transformers import BertModel

    shared = bool(int(source.settings.get("share_parameter", 0)))
    config = bert_config(source)
    towers = {"passage": "titlepara_"} if shared else {"query": "query_", "passage": "titlepara_"}
    for side, prefix in towers.items():
        model = BertModel(config, add_pooling_layer=False)
        model.load_state_dict(_tower_state(model, tensors, prefix, "", source), strict=True)
        folder = out if shared else out / side
        model.save_pretrained(folder, safe_serialization=True)
        _save_tokenizer(source, folder, config.max_position_embeddings)
    encoder = {"pooling": "cls", "normalize": False, "shared": shared,
               "max_query_length": int(source.settings["q_max_seq_len"]),
               "max_passage_length": int(source.settings["p_max_seq_len"]), "passage_input": "title-sep"}
    (out / ENCODER_CONFIG).write_text(json.dumps(encoder, indent=2), encoding="utf-8")
    return {"towers": towers, "score": "dot product of the raw last-layer [CLS] vectors"}


def _convert_cross_encoder(source: SourceModel, tensors: _Tensors, out: Path) -> dict[str, Any]:
    import torch
    from transformers import BertForSequenceClassification

    joint = bool(int(source.settings.get("joint_training", 0)))
    config = bert_config(source, num_labels=1)
    model = BertForSequenceClassification(config)
    prefix = "qtp_" if joint else ""
    state = _tower_state(model, tensors, prefix, "bert.", source)
    hidden = config.hidden_size
    if joint:
        _fill(state, tensors, CE_V2_HEAD)
        state["bert.pooler.dense.weight"] = torch.zeros(hidden, hidden)
        state["bert.pooler.dense.bias"] = torch.zeros(hidden)
        pooling, score = "cls-raw", "the raw logit of the last-layer [CLS] state (RocketQAv2's joint re-ranker)"
    else:
        _fill(state, tensors, CE_V1_POOLER)
        weight = tensors.take(CE_V1_HEAD[0], (hidden, 2))
        bias = tensors.take(CE_V1_HEAD[1], (2,))
        state["classifier.weight"] = torch.from_numpy(np.ascontiguousarray((weight[:, 1] - weight[:, 0])[None, :]))
        state["classifier.bias"] = torch.from_numpy(np.array([bias[1] - bias[0]], dtype=np.float32))
        pooling, score = "cls", "sigmoid(logit) = the official softmax probability of label 1 (labels folded)"
    model.load_state_dict(state, strict=True)
    model.save_pretrained(out, safe_serialization=True)
    _save_tokenizer(source, out, config.max_position_embeddings)
    settings = {"max_length": int(source.settings["max_seq_len"]), "pooling": pooling}
    (out / CROSS_ENCODER_CONFIG).write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return {"towers": {"pair": prefix}, "score": score}


def convert(folder: str | Path, out: str | Path, origin: dict[str, Any] | None = None) -> dict[str, Any]:
    """Convert the RocketQA model folder `folder` into `out` (written in a temporary folder beside it, then
    renamed: a killed conversion leaves no half folder). Returns the conversion record."""
    source = read_source(folder)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise RqbenchError("output folder exists and is not empty", out)
    tensors = _Tensors(source.checkpoint)
    layers = _ernie_int(source.ernie, "num_hidden_layers",
                        source.folder / str(source.settings["model_conf_path"]).lstrip("/"))
    known = known_model_names(layers)
    unknown = [n for n in tensors.files if n not in known and not is_training_state(n)]
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise RqbenchError(f"tensor '{unknown[0]}'{more} is no parameter of a RocketQA model", source.checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.converting-"))  # one per conversion
    try:
        convert_kind = _convert_dual_encoder if source.kind == "dual-encoder" else _convert_cross_encoder
        shape = convert_kind(source, tensors, tmp)
        skipped = sorted(n for n in tensors.files if n not in tensors.used and not is_training_state(n))
        record = {
            "converter": CONVERTER_VERSION, "kind": source.kind, **shape, "origin": origin or {},
            "source_settings": source.settings, "ernie": source.ernie,
            "tensors": {"converted": sum(not is_training_state(n) for n in tensors.used),
                        "skipped_other_parts": skipped,
                        "skipped_training_state": sum(is_training_state(n) and n not in tensors.used
                                                      for n in tensors.files)},
            "notes": [n for n in [
                "for_cn: the toolkit removes spaces from Chinese text before tokenizing; rqbench does not"
                if source.settings.get("for_cn") else ""] if n],
        }
        (tmp / CONVERSION_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        if out.exists():
            out.rmdir()  # an empty folder (a non-empty one was refused above)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record
