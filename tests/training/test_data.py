import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from training import data
from training.data import MnistUnavailable, mnist_ensure
from vision.idx import write_idx

ROOT = Path(__file__).resolve().parents[2]


def _fake_mnist(folder: Path) -> dict[str, str]:
    """Write four small IDX files and return their checksums."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for i, name in enumerate(data.MNIST_SHA256):
        write_idx(folder / name, np.full((2, 2), i, dtype=np.uint8))
        sums[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    return sums


def test_local_source_rejects_a_checksum_mismatch(tmp_path):
    _fake_mnist(tmp_path / "src")  # valid IDX, but not the official bytes
    with pytest.raises(MnistUnavailable, match="does not match"):
        data.source_local(tmp_path / "dst", tmp_path / "src")
    assert not any((tmp_path / "dst").glob("*-ubyte"))


def test_local_source_accepts_gzipped_files_with_matching_checksums(tmp_path, monkeypatch):
    sums = _fake_mnist(tmp_path / "plain")
    (tmp_path / "src").mkdir()
    for name in sums:
        (tmp_path / "src" / f"{name}.gz").write_bytes(gzip.compress((tmp_path / "plain" / name).read_bytes()))
    monkeypatch.setattr(data, "MNIST_SHA256", sums)
    data.source_local(tmp_path / "dst", tmp_path / "src")
    assert data.mnist_is_complete(tmp_path / "dst")


def test_mnist_ensure_falls_through_to_the_next_source(tmp_path, monkeypatch):
    sums = _fake_mnist(tmp_path / "good")
    monkeypatch.setattr(data, "MNIST_SHA256", sums)
    tried = []

    def broken(directory):
        tried.append("broken")
        raise OSError("network is down")

    def good(directory):
        tried.append("good")
        data.source_local(directory, tmp_path / "good")

    result = mnist_ensure(tmp_path / "dst", sources=[("broken", broken), ("good", good)])
    assert result == tmp_path / "dst"
    assert tried == ["broken", "good"]
    assert data.mnist_is_complete(tmp_path / "dst")


def test_mnist_ensure_lists_every_failed_source(tmp_path):
    def fail(reason):
        def fetch(directory):
            raise MnistUnavailable(reason)

        return fetch

    with pytest.raises(MnistUnavailable) as excinfo:
        mnist_ensure(tmp_path, sources=[("first", fail("no folder")), ("second", fail("offline"))])
    assert "first: no folder" in str(excinfo.value)
    assert "second: offline" in str(excinfo.value)


def test_keras_url_source_fails_fast_when_unreachable(tmp_path):
    with pytest.raises(MnistUnavailable, match="download failed"):
        data.source_keras_url(tmp_path, url="http://127.0.0.1:9/mnist.npz")


@pytest.mark.integration
@pytest.mark.slow
def test_mnist_ensure_installs_the_official_files(tmp_path):
    """The real chain: the project's data/mnist folder when present, else the network sources."""
    local = ROOT / "data" / "mnist"
    mnist_ensure(tmp_path, local_dir=local)
    assert data.mnist_checksums(tmp_path) == data.MNIST_SHA256
    x_train, y_train, x_test, y_test = data.load_mnist(tmp_path)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert set(np.unique(y_test)) == set(range(10))
