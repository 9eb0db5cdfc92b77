"""Reads of the model registry's files: where the report images of a model version, a model
comparison and the data analysis (EDA) are, on this host or in the object storage."""

from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from mnistsite.objectstore import ObjectStorageError, object_names, object_open, object_storage_enabled
from training.models import ModelComparison, ModelVersion

REPORT_NAMES_SECONDS = 3600  # a stored version's or comparison's files never change
EDA_PREFIX = "eda"  # the data analysis's folder in the object storage (one, rewritten by each run)
EDA_NAMES_KEY = "eda-report-files"
EDA_NAMES_SECONDS = 300  # eda_report_store forgets the list at once; this bounds a missed forget


def stored_report_names(*, prefix: str, cache_key: str, seconds: int) -> list[str]:
    """The file names under `prefix` in the object storage, listed at most once per `seconds`;
    none when the bucket does not answer (the page shows no reports rather than failing;
    /api/health says why)."""
    names = cache.get(cache_key)
    if names is None:
        try:
            names = object_names(prefix=prefix)
        except ObjectStorageError:
            return []
        cache.set(cache_key, names, seconds)
    return names


def stored_report_open(*, prefix: str, name: str):
    """The object `prefix/name` opened for reading, or None when it cannot be had."""
    try:
        return object_open(name=f"{prefix}/{name}")
    except ObjectStorageError:
        return None


def local_report_names(folder: Path | None) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def local_report_open(folder: Path | None, name: str):
    if folder is None or not (folder / name).is_file():
        return None
    return (folder / name).open("rb")


def model_version_report_names(*, version: ModelVersion) -> list[str]:
    """The files of the version's folder: on this host's disk when it is here (it was trained
    or registered here), else in the object storage (listed once an hour per version)."""
    folder = Path(version.directory) if version.directory else None
    if folder is not None and folder.is_dir():
        return local_report_names(folder)
    if not version.storage_prefix:
        return []
    key = f"model-version-files:{version.pk}:{version.storage_prefix}"
    return stored_report_names(prefix=version.storage_prefix, cache_key=key, seconds=REPORT_NAMES_SECONDS)


def model_version_report_open(*, version: ModelVersion, name: str):
    """The report file `name` (a name model_version_report_names gave) opened for reading, or
    None when it is neither here nor in the object storage."""
    folder = Path(version.directory) if version.directory else None
    handle = local_report_open(folder, name)
    if handle is not None or not version.storage_prefix:
        return handle
    return stored_report_open(prefix=version.storage_prefix, name=name)


def model_comparison_report_names(*, comparison: ModelComparison) -> list[str]:
    """The files of a comparison's report: from the object storage when it was stored there
    (every host sees the same), else from the folder it was written to."""
    if comparison.storage_prefix:
        key = f"model-comparison-files:{comparison.pk}:{comparison.storage_prefix}"
        return stored_report_names(prefix=comparison.storage_prefix, cache_key=key, seconds=REPORT_NAMES_SECONDS)
    return local_report_names(Path(comparison.report_dir) if comparison.report_dir else None)


def model_comparison_report_open(*, comparison: ModelComparison, name: str):
    """The comparison's report file `name` opened for reading, or None."""
    if comparison.storage_prefix:
        return stored_report_open(prefix=comparison.storage_prefix, name=name)
    return local_report_open(Path(comparison.report_dir) if comparison.report_dir else None, name)


def eda_dir() -> Path:
    return Path(settings.ARTIFACTS_DIR) / "eda"


def eda_report_names() -> list[str]:
    """The data analysis's files: with object storage, the ones the last `eda_report` run (on
    whichever host) stored there; without, the ones under ARTIFACTS_DIR/eda."""
    if object_storage_enabled():
        return stored_report_names(prefix=EDA_PREFIX, cache_key=EDA_NAMES_KEY, seconds=EDA_NAMES_SECONDS)
    return local_report_names(eda_dir())


def eda_report_open(*, name: str):
    """The data analysis's file `name` opened for reading, or None."""
    if object_storage_enabled():
        return stored_report_open(prefix=EDA_PREFIX, name=name)
    return local_report_open(eda_dir(), name)
