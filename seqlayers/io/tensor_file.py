"""Reading a safetensors file with bounded memory: sizes checked before allocation, a streaming checksum.

The format: 8 bytes (little-endian header length ``n``), ``n`` bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [start, end]}, "__metadata__": {...}}``, then the data.
``read_tensors`` refuses a file larger than the caller's limit (derived from the model's config)
before reading it, reads it in chunks while hashing, compares the SHA-256, then checks every header
entry (known dtype, shape, offsets that tile the data exactly, and, when given, the names and shapes
the model expects) before making tensors, which are views of the one buffer read. Every refusal is
a ``ModelFileError`` naming the file and the limit or the rule.
"""
from __future__ import annotations

import hashlib
import math

import torch

from .. import bounded_json
from ..errors import ModelFileError

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
MAX_HEADER_BYTES = 100 * 2**20
CHUNK = 1 << 20


class ChecksumMismatch(ModelFileError):
    """The bytes read do not have the SHA-256 the config records."""


def size_limit(expected: dict[str, tuple]) -> int:
    """The largest file that can hold ``{name: shape}`` (at 8 bytes per value, any dtype) and its header."""
    values = sum(math.prod(s) for s in expected.values())
    return 8 + 4096 + sum(200 + len(k) for k in expected) + 8 * values


def read_tensors(stream, size: int, label: str, *, limit: int, sha256: str | None = None,
                 expected: dict[str, tuple] | None = None) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file in ``stream`` (``size`` bytes), checked as the module says."""
    if size > limit:
        raise ModelFileError(f"{label}: {size:,} bytes, more than the {limit:,} bytes (the limit) that the "
                             f"model's config allows for its tensors; corrupted or hostile file?")
    if size < 8:
        raise ModelFileError(f"{label}: not a valid safetensors file (only {size} bytes).")
    data = bytearray(size)
    view, h, got = memoryview(data), hashlib.sha256(), 0
    while got < size:
        n = stream.readinto(view[got:got + CHUNK])
        if not n:
            raise ModelFileError(f"{label}: not a valid safetensors file (truncated at {got:,} of {size:,} bytes).")
        h.update(view[got:got + n])
        got += n
    if stream.read(1):
        raise ModelFileError(f"{label}: longer than the {size:,} bytes its entry declares.")
    if sha256 is not None and h.hexdigest() != sha256:
        raise ChecksumMismatch(f"{label}: does not match the SHA-256 recorded in config.json (corrupted, or "
                               f"written by an interrupted save).")
    n = int.from_bytes(data[:8], "little")
    if n > min(MAX_HEADER_BYTES, size - 8):
        raise ModelFileError(f"{label}: not a valid safetensors file (header of {n:,} bytes in a file of "
                             f"{size:,}; limit {MAX_HEADER_BYTES:,}).")
    try:
        header = bounded_json.loads(bytes(view[8:8 + n]).decode("utf-8"), label, ModelFileError, max_depth=4)
    except (UnicodeDecodeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{label}: not a valid safetensors file (header is not JSON: {e}).") from e
    specs = _entries(header, size - 8 - n, label)
    if expected is not None:
        _check_expected(specs, expected, label)
    base = 8 + n
    out = {}
    for name, (dtype, shape, start, end) in specs.items():
        if end == start:
            out[name] = torch.empty(shape, dtype=dtype)
        else:
            out[name] = torch.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=base + start).reshape(shape)
    return out


def _entries(header, data_size: int, label: str) -> dict:
    if not isinstance(header, dict):
        raise ModelFileError(f"{label}: not a valid safetensors file (the header must be a JSON object).")
    specs, spans = {}, []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(f"{label}: not a valid safetensors file (entry {name!r} needs exactly dtype, "
                                 f"shape and data_offsets).")
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in DTYPES:
            raise ModelFileError(f"{label}: tensor {name!r} has dtype {dtype!r}; expected one of {sorted(DTYPES)}.")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise ModelFileError(f"{label}: tensor {name!r} has shape {shape!r}; expected a list of sizes >= 0.")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ModelFileError(f"{label}: tensor {name!r} has data_offsets {offsets!r}; expected [start, end].")
        start, end = offsets
        nbytes = math.prod(shape) * DTYPES[dtype].itemsize
        if not 0 <= start <= end <= data_size or end - start != nbytes:
            raise ModelFileError(f"{label}: tensor {name!r} ({dtype}, shape {tuple(shape)}: {nbytes:,} bytes) has "
                                 f"data_offsets {offsets}, outside the {data_size:,} bytes of data or of another size.")
        specs[name] = (DTYPES[dtype], tuple(shape), start, end)
        spans.append((start, end))
    spans.sort()
    pos = 0
    for start, end in spans:
        if start != pos:
            raise ModelFileError(f"{label}: not a valid safetensors file (tensor data overlaps or leaves a gap at "
                                 f"byte {pos:,}).")
        pos = end
    if pos != data_size:
        raise ModelFileError(f"{label}: not a valid safetensors file ({data_size - pos:,} bytes after the last "
                             f"tensor).")
    return specs


def _check_expected(specs: dict, expected: dict[str, tuple], label: str) -> None:
    missing = sorted(set(expected) - set(specs))
    unexpected = sorted(set(specs) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{label}: the weights do not fit the model's config: "
            + (f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}" if unexpected else "") + ".")
    for k, shape in expected.items():
        if specs[k][1] != tuple(shape):
            raise ModelFileError(f"{label}: weight {k!r} has shape {specs[k][1]} in the file, but the config builds "
                                 f"{tuple(shape)}.")


__all__ = ["ChecksumMismatch", "read_tensors", "size_limit"]
