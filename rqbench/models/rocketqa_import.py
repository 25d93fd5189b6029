"""Bring an official RocketQA model into rqbench: find or fetch its tarball, check it, convert it once.

Where a model comes from, in order: `--from` (a tarball, or an unpacked model folder), the RocketQA toolkit's
own unpacked copy (`~/.rocketqa/NAME/`, which the toolkit checked against the published MD5), a tarball
downloaded before (`<models>/downloads/NAME.tar.gz`), else a download from the published address. A tarball
must match the toolkit's published MD5. The converted copy lives in the models folder
(`$RQBENCH_MODELS`, else `models/` in the artifact store), named by the model, its MD5 and the converter
version, so it is made once and a different source or converter gets a new folder; `model =
"rocketqa:NAME"` in a suite resolves to it. Its identity for stage hashes (`official_digest`) is known before
any download, so a suite plans offline.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from rqbench.errors import EnvironmentFault, RqbenchError
from rqbench.io import file_lock
from rqbench.models.rocketqa_catalog import OfficialModel, official_model
from rqbench.models.rocketqa_convert import CONVERSION_RECORD, CONVERTER_VERSION, convert


def models_root() -> Path:
    """Where converted models and downloaded tarballs live: $RQBENCH_MODELS, else the store's `models/`."""
    from rqbench.artifacts import default_store

    return Path(os.environ.get("RQBENCH_MODELS") or default_store() / "models")


def converted_folder(model: OfficialModel, root: Path | None = None) -> Path:
    return (root or models_root()) / "rocketqa" / f"{model.name}-{model.md5[:12]}-c{CONVERTER_VERSION}"


def official_digest(name: str) -> dict[str, Any]:
    """What identifies `rocketqa:NAME` in stage hashes: the published tarball's MD5 and the converter version."""
    model = official_model(name)
    return {"rocketqa": model.name, "tarball_md5": model.md5, "converter": CONVERTER_VERSION}


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _download(model: OfficialModel, root: Path) -> Path:
    target = root / "downloads" / model.tarball
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f"{target.name}.{os.getpid()}.part")  # the caller holds the model's lock
    print(f"rqbench: downloading {model.url}", flush=True)
    try:
        with urllib.request.urlopen(model.url, timeout=60) as response, part.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 22)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise EnvironmentFault(f"cannot download rocketqa:{model.name} from {model.url} ({exc}); fetch the file "
                               f"elsewhere and run `rqbench models import rocketqa:{model.name} --from FILE`") from None
    part.rename(target)
    return target


def _model_folder(unpacked: Path, model: OfficialModel) -> Path:
    """The folder holding config.json: `unpacked` itself, its NAME/ child, or its only child."""
    for candidate in (unpacked, unpacked / model.name):
        if (candidate / "config.json").is_file():
            return candidate
    children = [p for p in unpacked.iterdir() if p.is_dir()] if unpacked.is_dir() else []
    if len(children) == 1 and (children[0] / "config.json").is_file():
        return children[0]
    raise RqbenchError(f"no RocketQA model folder (config.json) in it, nor in {model.name}/", unpacked)


def _safe_extract(archive: tarfile.TarFile, target: str, tarball: Path) -> None:
    """Unpack with the "data" filter (no links out, no absolute paths); on a Python without it, members are
    checked by hand first."""
    try:
        archive.extractall(target, filter="data")
    except TypeError:  # Python < 3.11.4: no extraction filters
        root = Path(target).resolve()
        for member in archive.getmembers():
            dest = (root / member.name).resolve()
            if not dest.is_relative_to(root) or member.issym() or member.islnk() or member.isdev():
                raise RqbenchError(f"refusing to unpack member '{member.name}' (outside the folder, or a link)",
                                   tarball) from None
        archive.extractall(target)


def _from_tarball(tarball: Path, model: OfficialModel, out: Path, downloaded: bool) -> dict[str, Any]:
    md5 = md5_of(tarball)
    if md5 != model.md5:
        if downloaded:  # a damaged download is not kept to fail every later run
            tarball.unlink(missing_ok=True)
        raise RqbenchError(f"MD5 {md5}, but the published {model.tarball} has {model.md5}: not the official file"
                           + (" (the download was deleted; run again to fetch it anew)" if downloaded else ""),
                           tarball)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".unpack-") as tmp:
        try:
            with tarfile.open(tarball) as archive:
                _safe_extract(archive, tmp, tarball)
        except (tarfile.TarError, OSError) as exc:
            raise RqbenchError(f"cannot unpack ({exc})", tarball) from None
        origin = {"tarball": tarball.name, "tarball_md5": md5, "url": model.url}
        folder = _model_folder(Path(tmp), model)
        _check_kind(folder, model)
        return convert(folder, out, origin)


def _check_kind(folder: Path, model: OfficialModel) -> None:
    """The folder holds the kind of model its name says (a dual encoder for `_de`, a v2 re-ranker for
    v2_marco_ce), so a mislabelled source fails here, not later as a pooling mismatch."""
    from rqbench.models.rocketqa_convert import read_source

    source = read_source(folder)
    if source.kind != model.kind:
        raise RqbenchError(f"rocketqa:{model.name} is a {model.kind}, but this folder holds a {source.kind}", folder)
    joint = bool(int(source.settings.get("joint_training", 0)))
    if model.kind == "cross-encoder" and joint != (model.pooling == "cls-raw"):
        what = "a v2 joint re-ranker" if joint else "a v1 re-ranker"
        raise RqbenchError(f"this folder's config.json describes {what}, which rocketqa:{model.name} is not", folder)


def import_official(name: str, source: Path | None = None, out: Path | None = None) -> Path:
    """The converted folder of `rocketqa:NAME`, made now if needed (see the module docstring). A folder given as
    `source` cannot be checked against the published MD5, so it converts only into an explicit `out`."""
    model = official_model(name)
    if source is not None and not source.exists():
        raise RqbenchError("file not found", source)
    if source is not None and source.is_dir() and out is None:
        raise RqbenchError("an unpacked folder cannot be checked against the published MD5: give --out for its "
                           "converted copy (or pass the tarball)", source)
    target = out or converted_folder(model)
    if (target / CONVERSION_RECORD).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # one conversion (and download) of a model at a time, across processes (Ray or submitit workers)
    with file_lock(target.parent / f".{target.name}.lock"):
        if (target / CONVERSION_RECORD).is_file():  # another process converted it meanwhile
            return target
        if source is not None and source.is_dir():
            folder = _model_folder(source, model)
            _check_kind(folder, model)
            convert(folder, target, {"folder": str(source), "verified_md5": False})
            return target
        toolkit = Path.home() / ".rocketqa" / model.name
        if source is None and (toolkit / "config.json").is_file():
            _check_kind(toolkit, model)
            convert(toolkit, target, {"folder": "~/.rocketqa/" + model.name, "verified_md5": "by the toolkit"})
            return target
        _from_tarball(source or _download(model, models_root()), model, target, downloaded=source is None)
    return target
