"""Reads of the model registry's files: where a version's report images are, on this host or
in the object storage."""

from pathlib import Path

from django.core.cache import cache

from mnistsite.objectstore import ObjectStorageError, object_names, object_open
from training.models import ModelVersion

REPORT_NAMES_SECONDS = 3600  # a stored version's files never change


def model_version_report_names(*, version: ModelVersion) -> list[str]:
    """The files of the version's folder: on this host's disk when it is here (it was trained
    or registered here), else in the object storage (listed once an hour per version)."""
    folder = Path(version.directory) if version.directory else None
    if folder is not None and folder.is_dir():
        return sorted(p.name for p in folder.iterdir() if p.is_file())
    if not version.storage_prefix:
        return []
    key = f"model-version-files:{version.pk}:{version.storage_prefix}"
    names = cache.get(key)
    if names is None:
        try:
            names = object_names(prefix=version.storage_prefix)
        except ObjectStorageError:
            return []  # the page shows no reports rather than failing; health says why
        cache.set(key, names, REPORT_NAMES_SECONDS)
    return names


def model_version_report_open(*, version: ModelVersion, name: str):
    """The report file `name` (a name model_version_report_names gave) opened for reading, or
    None when it is neither here nor in the object storage."""
    folder = Path(version.directory) if version.directory else None
    if folder is not None and (folder / name).is_file():
        return (folder / name).open("rb")
    if not version.storage_prefix:
        return None
    try:
        return object_open(name=f"{version.storage_prefix}/{name}")
    except ObjectStorageError:
        return None
