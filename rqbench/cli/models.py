"""`rqbench models`: the official RocketQA models, listed and converted (`rqbench.models.rocketqa_import`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rqbench.errors import RqbenchError

models_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Official RocketQA models: list them, convert one for rqbench's backends.")


@models_app.command("list")
def list_command(
    urls: Annotated[bool, typer.Option("--urls", help="Also print where each tarball is published.")] = False,
) -> None:
    """The official RocketQA model names, their kind and whether each is converted here."""
    from rqbench.models.rocketqa_catalog import CATALOG
    from rqbench.models.rocketqa_import import converted_folder

    for model in CATALOG.values():
        here = "converted" if (converted_folder(model) / "rqbench_conversion.json").is_file() else "-"
        print(f"rocketqa:{model.name:<20} {model.kind:<14} {here}" + (f"  {model.url}" if urls else ""))


@models_app.command("import")
def import_command(
    name: Annotated[str, typer.Argument(metavar="rocketqa:NAME", help="An official model, e.g. rocketqa:v1_marco_de "
                                        "(`rqbench models list`).")],
    source: Annotated[Path | None, typer.Option("--from", metavar="TARBALL_OR_DIR", help="The published tarball "
                      "(checked against its MD5) or an unpacked model folder; default: ~/.rocketqa/NAME, else "
                      "download.")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Where the converted model goes "
                   "(default: the models folder that `model = \"rocketqa:NAME\"` in a suite reads).")] = None,
) -> None:
    """Convert an official RocketQA model (PaddlePaddle) into a folder rqbench's dense or cross-encoder backend
    loads: safetensors weights, tokenizer, and rqbench's settings; the source and every tensor are accounted for
    in rqbench_conversion.json."""
    from rqbench.models.rocketqa_catalog import PREFIX
    from rqbench.models.rocketqa_convert import CONVERSION_RECORD
    from rqbench.models.rocketqa_import import import_official

    if not name.startswith(PREFIX):
        raise RqbenchError(f"'{name}': name an official model as {PREFIX}NAME (rqbench models list)")
    folder = import_official(name, source, out)
    record = json.loads((folder / CONVERSION_RECORD).read_text(encoding="utf-8"))
    tensors = record["tensors"]
    print(f"{name}: {record['kind']}, {tensors['converted']} tensors converted, "
          f"{len(tensors['skipped_other_parts'])} of other parts and {tensors['skipped_training_state']} of "
          f"training state skipped -> {folder}")
