"""vision.idx: IDX files in and out (MNIST's encoding; batch jobs read uploaded ones)."""

import gzip

import numpy as np
import pytest

from vision.idx import idx_bytes, read_idx, write_idx


@pytest.mark.parametrize(
    "array",
    [
        np.arange(7, dtype=np.uint8),
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([[-1, 2], [3, -4]], dtype=np.int8),
    ],
)
def test_read_idx_round_trips_what_write_idx_wrote(tmp_path, array):
    path = tmp_path / "x-idx"
    write_idx(path, array)
    result = read_idx(path)
    assert result.dtype == array.dtype
    np.testing.assert_array_equal(result, array)


def test_read_idx_reads_gzipped_files(tmp_path):
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x00",
        b"\x01\x00\x08\x01\x00\x00\x00\x01\x05",  # bad magic
        b"\x00\x00\x07\x01\x00\x00\x00\x01\x05",  # unknown type code
        b"\x00\x00\x08\x00",  # zero dimensions
        b"\x00\x00\x08\x02\x00\x00\x00\x02",  # header cut short
        b"\x00\x00\x08\x01\x00\x00\x00\x03\x05\x06",  # body too short
        b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06",  # body too long
        b"\x1f\x8b\x08\x00garbage",  # corrupt gzip
    ],
)
def test_read_idx_rejects_malformed_files(tmp_path, raw):
    path = tmp_path / "bad"
    path.write_bytes(raw)
    with pytest.raises(ValueError):
        read_idx(path)
