"""IDX files (the MNIST encoding): read any IDX dtype and dimension count, write uint8/int8.

Plain Python (numpy only): no Django, no TensorFlow. Training reads MNIST with it and a
batch job reads an uploaded IDX file with it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["idx_bytes", "parse_idx", "read_idx", "write_idx"]

# IDX type codes (third header byte) -> numpy big-endian dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def parse_idx(data: bytes) -> np.ndarray:
    """Parse IDX bytes (any dimension count, any IDX dtype); ValueError if malformed."""
    if len(data) < 4:
        raise ValueError("IDX data shorter than its 4-byte magic number")
    if data[0] != 0 or data[1] != 0:
        raise ValueError("IDX magic number must start with two zero bytes")
    dtype = _IDX_DTYPES.get(data[2])
    if dtype is None:
        raise ValueError(f"unknown IDX data type code 0x{data[2]:02x}")
    ndim = data[3]
    if ndim == 0:
        raise ValueError("IDX file declares zero dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError("IDX data shorter than its header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        raise ValueError(f"IDX body has {actual} bytes, header shape {shape} needs {expected}")
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (``.gz`` is decompressed) into a native-endian array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path}: corrupt gzip: {exc}") from exc
    try:
        return parse_idx(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8/int8 array as IDX (the MNIST encoding)."""
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype)
    if code is None:
        raise ValueError(f"cannot write dtype {array.dtype} as IDX")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    Path(path).write_bytes(idx_bytes(array))
