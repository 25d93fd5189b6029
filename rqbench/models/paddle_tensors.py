"""Read PaddlePaddle checkpoints saved one file per variable (`fluid.io.save_persistables`, the form of the
official RocketQA tarballs) with numpy alone: no paddle install is needed to convert a model.

Each file is one serialized LoDTensor (Paddle's `SerializeToStream`), little-endian:

    u32 version (0) | u64 lod_level | per level: u64 byte size + that many bytes of offsets
    u32 version (0) | i32 size of the TensorDesc | TensorDesc protobuf | raw tensor data

TensorDesc is `{1: data_type (varint enum), 2: dims (repeated int64, packed or not)}`. The file's name is the
variable's name.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from rqbench.errors import RqbenchError

# Paddle's VarType enum (framework.proto) -> numpy dtype
DTYPES: dict[int, np.dtype] = {
    0: np.dtype(np.bool_), 1: np.dtype("<i2"), 2: np.dtype("<i4"), 3: np.dtype("<i8"), 4: np.dtype("<f2"),
    5: np.dtype("<f4"), 6: np.dtype("<f8"), 20: np.dtype(np.uint8), 21: np.dtype(np.int8),
}
BF16 = 22  # stored as raw 16-bit words, widened to float32 on read


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _tensor_desc(desc: bytes) -> tuple[int, list[int]]:
    """(data_type, dims) of a TensorDesc message; unknown fields are skipped."""
    data_type, dims, pos = -1, [], 0
    while pos < len(desc):
        key, pos = _varint(desc, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(desc, pos)
            if field == 1:
                data_type = value
            elif field == 2:
                dims.append(value - (1 << 64) if value >= 1 << 63 else value)
        elif wire == 2:
            size, pos = _varint(desc, pos)
            chunk, pos = desc[pos:pos + size], pos + size
            if field == 2:  # packed dims
                inner = 0
                while inner < len(chunk):
                    value, inner = _varint(chunk, inner)
                    dims.append(value - (1 << 64) if value >= 1 << 63 else value)
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    if data_type < 0:
        raise ValueError("TensorDesc has no data type")
    return data_type, dims


def read_tensor(path: str | Path) -> np.ndarray:
    """The array stored in one variable file; a malformed file is an error naming it."""
    path = Path(path)
    data = path.read_bytes()
    try:
        version, lod_level = struct.unpack_from("<IQ", data, 0)
        pos = 12
        for _ in range(lod_level):
            (size,) = struct.unpack_from("<Q", data, pos)
            pos += 8 + size
        tensor_version, desc_size = struct.unpack_from("<Ii", data, pos)
        pos += 8
        if version != 0 or tensor_version != 0 or desc_size < 0:
            raise ValueError(f"unknown format version ({version}, {tensor_version})")
        data_type, dims = _tensor_desc(data[pos:pos + desc_size])
        pos += desc_size
    except (struct.error, ValueError) as exc:
        raise RqbenchError(f"not a Paddle variable file ({exc})", path) from None
    count = int(np.prod(dims)) if dims else 1
    if data_type == BF16:
        raw = np.frombuffer(data, dtype="<u2", count=count, offset=pos) if len(data) - pos >= 2 * count else None
        if raw is None:
            raise RqbenchError(f"truncated: {len(data) - pos} data bytes for {dims} bf16", path)
        return (raw.astype(np.uint32) << 16).view(np.float32).reshape(dims)
    if data_type not in DTYPES:
        raise RqbenchError(f"unsupported Paddle data type {data_type}", path)
    dtype = DTYPES[data_type]
    if len(data) - pos != count * dtype.itemsize:
        raise RqbenchError(f"{len(data) - pos} data bytes where shape {dims} of {dtype} needs "
                           f"{count * dtype.itemsize}", path)
    return np.frombuffer(data, dtype=dtype, count=count, offset=pos).reshape(dims).copy()


def variable_files(folder: str | Path) -> dict[str, Path]:
    """The variable files of a checkpoint folder, by variable name (hidden files and sub-folders skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RqbenchError("checkpoint folder not found", folder)
    files = {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    if not files:
        raise RqbenchError("no variable files in the checkpoint folder", folder)
    return files
