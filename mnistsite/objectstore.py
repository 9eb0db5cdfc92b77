"""The files that several hosts share, through Django's default storage.

With STORAGE_BUCKET set, the default storage is an S3-compatible bucket (settings), and the
files that cross hosts go there: uploads (their FileField does it), staged batch inputs and
their manifests (recognizer.batch), model versions and their reports (training.services).
A process that needs such a file on its own disk (a zip to read members from, a .tflite
for LiteRT) downloads it into a local folder with ``object_get``. Without a bucket nothing
here is called: the local disk under MEDIA_ROOT and MODEL_DIR is shared by one host's
processes as before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

COPY_BLOCK = 1024 * 1024


class ObjectStorageError(Exception):
    """The bucket cannot be read or written (down, refused, misconfigured). A sentence for people."""


class ObjectMissing(ObjectStorageError):
    """The object is not in the bucket."""


class ObjectCorrupt(ObjectStorageError):
    """The object's bytes are not the ones the registry recorded (SHA-256)."""


def object_storage_enabled() -> bool:
    return bool(settings.STORAGE_BUCKET)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(COPY_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _storage_failure(action: str, name: str, exc: Exception) -> ObjectStorageError:
    return ObjectStorageError(f"cannot {action} {name} in the object storage: {type(exc).__name__}: {exc}")


def object_put(*, path: Path, name: str) -> str:
    """Store the local file `path` as `name` (replacing an object of that name); returns the name."""
    try:
        with open(path, "rb") as handle:
            return default_storage.save(name, File(handle, name=Path(name).name))
    except OSError as exc:
        if not Path(path).is_file():
            raise
        raise _storage_failure("write", name, exc) from exc
    except Exception as exc:  # botocore raises its own errors (connection, access, throttling)
        raise _storage_failure("write", name, exc) from exc


def object_tree_put(*, directory: Path, prefix: str) -> list[str]:
    """Store every file under `directory` as `prefix/<relative path>`; returns the names."""
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return [object_put(path=p, name=f"{prefix}/{p.relative_to(directory).as_posix()}") for p in files]


def object_names(*, prefix: str) -> list[str]:
    """The file names directly under `prefix` (not their full names)."""
    try:
        return sorted(default_storage.listdir(prefix)[1])
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise _storage_failure("list", prefix, exc) from exc


def object_open(*, name: str):
    """The object `name` opened for reading (binary). Raises ObjectMissing or ObjectStorageError."""
    try:
        return default_storage.open(name, "rb")
    except FileNotFoundError as exc:
        raise ObjectMissing(f"{name} is not in the object storage") from exc
    except Exception as exc:
        raise _storage_failure("read", name, exc) from exc


def object_get(*, name: str, destination: Path, sha256: str | None = None) -> Path:
    """Download `name` to `destination`, which appears whole or not at all (a temporary file
    renamed into place). With `sha256`, bytes with another digest raise ObjectCorrupt and
    nothing is left behind."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        try:
            with object_open(name=name) as source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out, COPY_BLOCK)
        except ObjectStorageError:
            raise
        except Exception as exc:  # the download broke off
            raise _storage_failure("read", name, exc) from exc
        if sha256:
            actual = file_sha256(partial)
            if actual != sha256:
                raise ObjectCorrupt(f"{name} in the object storage has SHA-256 {actual[:12]}…, not {sha256[:12]}…")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def object_tree_get(*, prefix: str, destination: Path) -> Path:
    """Download the files directly under `prefix` into the folder `destination`, which appears
    whole or not at all. Another process of this host that got there first wins."""
    destination = Path(destination)
    if destination.is_dir():
        return destination
    names = object_names(prefix=prefix)
    if not names:
        raise ObjectMissing(f"{prefix}/ holds nothing in the object storage")
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.part")
    try:
        for name in names:
            object_get(name=f"{prefix}/{name}", destination=partial / name)
        try:
            partial.rename(destination)
        except OSError:
            if not destination.is_dir():  # not a twin that won the race: a real failure
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return destination
