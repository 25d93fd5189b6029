"""Turning what the user wrote (a path, a short name, an ir_datasets id, a suite table) into a plan.

Nothing is read here except directory listings; errors about the spec itself name the suite file
(`where`), errors about data files are raised later by the readers and name the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rqbench.data.layout import FORMATS
from rqbench.errors import RqbenchError, did_you_mean

SPEC_KEYS = ("path", "format", "corpus", "queries", "qrels", "name")
_IRDS_ID = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[\w.-]+)+")


@dataclass(frozen=True)
class Plan:
    """A folder to load (`irds_id` None) or an ir_datasets id; explicit files override discovery."""

    name: str
    folder: Path | None = None
    irds_id: str | None = None
    fmt: str | None = None
    corpus: Path | None = None
    queries: dict[str, Path] | None = None
    qrels: dict[str, Path] | None = None
    split: str | None = None  # the split name an ir_datasets id is loaded as (default: its last part)


# Well-known names, used when a short name is not found under the data root: (ir_datasets id, split).
# Real users with the internet get the data downloaded by ir_datasets; offline, the name must be local.
WELL_KNOWN: dict[str, tuple[str, str]] = {
    "scifact": ("beir/scifact/test", "test"),
    "nfcorpus": ("beir/nfcorpus/test", "test"),
    "fiqa": ("beir/fiqa/test", "test"),
    "trec-covid": ("beir/trec-covid", "test"),
    "msmarco-dl19": ("msmarco-passage/trec-dl-2019/judged", "dl19"),
    "msmarco-dl20": ("msmarco-passage/trec-dl-2020/judged", "dl20"),
    "msmarco-dev": ("msmarco-passage/dev/small", "dev"),
    "vaswani": ("vaswani", "test"),
}


def resolve_data_root(cli_value: str | None = None) -> Path | None:
    """First existing folder of: cli_value, $RQBENCH_DATA, ./data, ../shared/data (from the cwd).
    A value the user named explicitly (option or variable) that is not a folder is an error, not skipped."""
    for explicit, what in ((cli_value, "--data-root"), (os.environ.get("RQBENCH_DATA"), "$RQBENCH_DATA")):
        if explicit and not Path(explicit).expanduser().is_dir():
            raise RqbenchError(f"{what} is not a folder", explicit)
    candidates = [cli_value, os.environ.get("RQBENCH_DATA"), "data", os.path.join("..", "shared", "data")]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_dir():
            return Path(candidate).expanduser().resolve()
    return None


def resolve_spec(
    spec: str | Path | Mapping[str, Any], data_root: Path | None = None, where: str | None = None
) -> Plan:
    if isinstance(spec, Mapping):
        return _resolve_mapping(spec, data_root, where)
    if isinstance(spec, str | Path):
        return _resolve_name(str(spec), data_root, where)
    raise RqbenchError(f"a dataset is a name, a folder or a table, not {type(spec).__name__}", where)


def _resolve_name(spec: str, data_root: Path | None, where: str | None) -> Plan:
    if not spec.strip():
        raise RqbenchError("empty dataset name", where)
    path = Path(spec).expanduser()
    if path.is_dir():
        return Plan(name=path.resolve().name, folder=path.resolve())
    if path.exists():
        raise RqbenchError(f"'{spec}' is a file; give the dataset folder that contains it", where)
    if data_root is not None and (data_root / spec).is_dir():
        folder = (data_root / spec).resolve()
        return Plan(name=spec, folder=folder)
    if _IRDS_ID.fullmatch(spec) and not Path(spec.split("/")[0]).is_dir():
        return Plan(name=spec, irds_id=spec)
    if "/" in spec or os.sep in spec:
        raise RqbenchError(f"dataset folder '{spec}' not found", where)
    if spec in WELL_KNOWN:
        irds_id, split = WELL_KNOWN[spec]
        return Plan(name=spec, irds_id=irds_id, split=split)
    raise RqbenchError(f"unknown dataset '{spec}'" + _choices_hint(spec, data_root), where)


def _choices_hint(name: str, data_root: Path | None) -> str:
    if data_root is None:
        return " (no data folder found: set RQBENCH_DATA or give the dataset's folder)"
    folders = [p.name for p in data_root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return did_you_mean(name, folders) or f" (no dataset folders in {data_root})"


def _resolve_mapping(spec: Mapping[str, Any], data_root: Path | None, where: str | None) -> Plan:
    for key in spec:
        if key not in SPEC_KEYS:
            raise RqbenchError(f"unknown dataset key '{key}'" + did_you_mean(str(key), SPEC_KEYS), where)
    fmt = spec.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise RqbenchError(f"unknown dataset format '{fmt}'" + did_you_mean(str(fmt), FORMATS), where)
    location = _string(spec, "path", where, required=True)
    name = _string(spec, "name", where)
    if fmt == "irds":
        for key in ("corpus", "queries", "qrels"):
            if key in spec:
                raise RqbenchError(f"'{key}' cannot be given for an ir_datasets dataset", where)
        return Plan(name=name or location, irds_id=location)

    folder = _find_folder(location, data_root, where)
    corpus = _string(spec, "corpus", where)
    return Plan(
        name=name or folder.name,
        folder=folder,
        fmt=fmt,
        corpus=folder / corpus if corpus else None,
        queries=_split_files(spec, "queries", folder, where),
        qrels=_split_files(spec, "qrels", folder, where),
    )


def _find_folder(location: str, data_root: Path | None, where: str | None) -> Path:
    """Absolute, else relative to the suite file's folder, the cwd, then the data root."""
    path = Path(location).expanduser()
    bases = [] if path.is_absolute() else [Path(where).parent if where else None, Path.cwd(), data_root]
    candidates = [path] if path.is_absolute() else [base / path for base in bases if base is not None]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    if any(candidate.is_file() for candidate in candidates):
        raise RqbenchError(f"dataset path '{location}' is a file; 'path' is the dataset folder", where)
    raise RqbenchError(f"dataset folder '{location}' not found", where)


def _string(spec: Mapping[str, Any], key: str, where: str | None, required: bool = False) -> str | None:
    value = spec.get(key)
    if value is None:
        if required:
            raise RqbenchError(f"dataset table needs '{key}'", where)
        return None
    if not isinstance(value, str | Path) or not str(value).strip():
        raise RqbenchError(f"dataset '{key}' must be a non-empty string", where)
    return str(value)


def _split_files(spec: Mapping[str, Any], key: str, folder: Path, where: str | None) -> dict[str, Path] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise RqbenchError(f"dataset '{key}' must be a table of split = file, e.g. {{test = \"...\"}}", where)
    files: dict[str, Path] = {}
    for split, file in value.items():
        if not isinstance(file, str | Path) or not str(file).strip():
            raise RqbenchError(f"dataset '{key}.{split}' must be a file name", where)
        files[str(split)] = folder / file
    return files
