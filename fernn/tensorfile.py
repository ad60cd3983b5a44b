"""safetensors files, read with every declared size checked first: an 8-byte header length, a JSON
header (each tensor's dtype, shape and byte range; ``__metadata__``: strings), then the raw bytes.

Nothing in such a file can run code, and the header bounds what reading it allocates: before a
tensor is made, :func:`read_header` checks that the header fits its cap and the file, that every
dtype is known, every byte range lies inside the file, matches its dtype and shape and overlaps no
other, and that all of them together stay under the caller's cap. Only then does the
``safetensors`` library read the tensors (mapping a file rather than copying it).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

__all__ = ["DTYPES", "MAX_HEADER_BYTES", "Header", "TensorFileError", "read_file", "read_bytes", "read_header",
           "write_bytes", "write_file"]

# Bytes per element of each dtype a fernn file may hold (the names safetensors writes).
DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
# fernn's headers are a few kB (tens of tensors, a config); safetensors itself allows 100 MB.
MAX_HEADER_BYTES = 1024**2


class TensorFileError(ValueError):
    """A safetensors file whose header or sizes cannot be trusted (the message is one clause)."""


@dataclass(frozen=True)
class Header:
    """A checked header: each tensor's ``(dtype, shape, (begin, end))`` and the file's metadata."""

    tensors: dict[str, tuple[str, tuple[int, ...], tuple[int, int]]]
    metadata: dict[str, str]

    @property
    def tensor_bytes(self) -> int:
        return sum(end - begin for _, _, (begin, end) in self.tensors.values())


def read_header(head: bytes, *, file_size: int, max_bytes: int) -> Header:
    """The header at the start of a file of ``file_size`` bytes (``head``: at least its first
    ``8 + header length`` bytes), checked as the module says; :class:`TensorFileError` if not."""
    if file_size < 8 or len(head) < 8:
        raise TensorFileError("it is too short to be a safetensors file")
    (length,) = struct.unpack("<Q", head[:8])
    if length > MAX_HEADER_BYTES:
        raise TensorFileError(f"its header claims {length:,} bytes; the limit is {MAX_HEADER_BYTES:,}")
    if 8 + length > file_size or len(head) < 8 + length:
        raise TensorFileError("it is truncated: its header runs past the end of the file")
    try:
        header = json.loads(bytes(head[8:8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TensorFileError("its header is not JSON (not a safetensors file)") from None
    if not isinstance(header, dict):
        raise TensorFileError("its header is not a JSON object (not a safetensors file)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise TensorFileError("its __metadata__ is not a mapping of strings")
    data_size = file_size - 8 - length
    tensors = {name: _checked_entry(name, entry, data_size) for name, entry in header.items()}
    ranges = sorted(span for _, _, span in tensors.values() if span[1] > span[0])
    for (_, end), (begin, _) in zip(ranges, ranges[1:]):
        if begin < end:
            raise TensorFileError("two of its tensors share bytes (overlapping data_offsets)")
    total = sum(end - begin for begin, end in ranges)
    if total > max_bytes:
        raise TensorFileError(f"its tensors declare {total / 1024**2:.1f} MB; the limit is {max_bytes / 1024**2:.0f} MB")
    return Header(tensors, dict(metadata))


def _checked_entry(name: str, entry: object, data_size: int) -> tuple[str, tuple[int, ...], tuple[int, int]]:
    """One tensor's ``(dtype, shape, (begin, end))``, its size computed with Python integers (no overflow)."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise TensorFileError(f"tensor {name[:60]!r} is not described by dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise TensorFileError(f"tensor {name[:60]!r} has dtype {str(dtype)[:20]!r}; fernn reads {', '.join(DTYPES)}")
    whole = lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 0  # noqa: E731
    if not isinstance(shape, list) or len(shape) > 8 or not all(map(whole, shape)):
        raise TensorFileError(f"tensor {name[:60]!r} has a shape that is not up to 8 whole numbers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(whole, offsets)):
        raise TensorFileError(f"tensor {name[:60]!r} has data_offsets that are not two whole numbers")
    begin, end = offsets
    if not begin <= end <= data_size:
        raise TensorFileError(f"tensor {name[:60]!r} lies outside the file (bytes {begin:,}..{end:,} of {data_size:,})")
    if end - begin != math.prod(shape) * DTYPES[dtype]:
        raise TensorFileError(f"tensor {name[:60]!r} has {end - begin:,} bytes for shape {shape[:8]} of {dtype}")
    return dtype, tuple(shape), (begin, end)


def read_bytes(data: bytes, *, max_bytes: int) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file held in memory, checked before any tensor is made."""
    header = read_header(data[:8 + MAX_HEADER_BYTES], file_size=len(data), max_bytes=max_bytes)
    try:
        tensors = safetensors.torch.load(bytes(data))
    except Exception as error:  # noqa: BLE001 - the library's own checks fail with its own types
        raise TensorFileError(f"safetensors refused it ({str(error).splitlines()[0][:200]})") from None
    return tensors, header.metadata


def read_file(path: Path, *, max_bytes: int) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of the safetensors file at ``path``, its header checked before the
    tensors are mapped."""
    with open(path, "rb") as handle:
        head = handle.read(8 + MAX_HEADER_BYTES)
    read_header(head, file_size=path.stat().st_size, max_bytes=max_bytes)
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as opened:
            metadata = opened.metadata() or {}
            return {name: opened.get_tensor(name) for name in opened.keys()}, dict(metadata)
    except Exception as error:  # noqa: BLE001 - the library's own checks fail with its own types
        raise TensorFileError(f"safetensors refused it ({str(error).splitlines()[0][:200]})") from None


def _plain(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors stores each tensor's own bytes: contiguous, on the CPU, sharing no storage.
    return {name: tensor.detach().cpu().contiguous().clone() for name, tensor in tensors.items()}


def write_bytes(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    """A safetensors file of ``tensors`` with ``metadata`` (strings), as bytes."""
    return safetensors.torch.save(_plain(tensors), metadata=dict(metadata))


def write_file(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> Path:
    """Write ``tensors`` with ``metadata`` to ``path`` through a temporary file (never half-written)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(write_bytes(tensors, metadata))
    temporary.replace(path)
    return path
