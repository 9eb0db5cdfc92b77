"""Reviewed predictions as a zip of label folders, for training or auditing elsewhere."""

import csv
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath

from PIL import Image

from recognizer.models import NOT_A_DIGIT
from recognizer.selectors import predictions_reviewed

CHUNK = 500
COLUMNS = [
    "file",
    "label",
    "id",
    "image",
    "prediction",
    "confidence",
    "rejected",
    "source",
    "model_version",
    "reviewed_by",
    "reviewed_at",
    "original_name",
]


@dataclass(frozen=True)
class ReviewExport:
    path: Path
    written: int
    #: Reviewed predictions with no image left to write (a missing original and no model input).
    missing: int


def label_folder(label: int) -> str:
    return "none" if label == NOT_A_DIGIT else str(label)


def _input_png(model_input: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("L", (28, 28), bytes(model_input)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_original(archive: zipfile.ZipFile, name: str, prediction) -> bool:
    """Copy the stored original into the archive in blocks; False when it cannot be read."""
    try:
        with prediction.original.open("rb") as source, archive.open(name, "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
    except OSError:
        return False
    return True


def reviews_export(*, path: Path | str) -> ReviewExport:
    """Write every reviewed prediction (label_source "review"; batch labels are not reviews) to the
    zip `path`: `<label>/<id><suffix>` with label folders 0-9 and `none`, and `labels.csv`
    (`file,label,...`). The image is the stored original as it was uploaded; a batch item keeps
    none, and gives its 28x28 model input as PNG (column `image` says which).

    Streaming: rows are read by id in chunks and each original is copied in blocks, so memory does
    not grow with the export; labels.csv is spooled to disk until the end. Atomic: the archive is
    written to a temporary file beside `path` and renamed over it only when complete, so an error
    leaves no partial archive (and an older one at `path` untouched). No transaction is held while
    files are read or written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    written = missing = 0
    try:
        with (
            zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
            tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024, mode="w+", newline="") as labels,
        ):
            table = csv.writer(labels)
            table.writerow(COLUMNS)
            last = 0
            while True:
                chunk = list(
                    predictions_reviewed().filter(pk__gt=last).select_related("model_version", "reviewed_by")[:CHUNK]
                )
                if not chunk:
                    break
                last = chunk[-1].pk
                for prediction in chunk:
                    folder = label_folder(prediction.true_label)
                    name, image = None, None
                    if prediction.original:
                        suffix = PurePath(prediction.original.name).suffix.lower() or ".bin"
                        name = f"{folder}/{prediction.pk}{suffix}"
                        image = "original" if _write_original(archive, name, prediction) else None
                    if image is None and prediction.model_input is not None:
                        name = f"{folder}/{prediction.pk}.png"
                        archive.writestr(name, _input_png(prediction.model_input))
                        image = "input"
                    if image is None:
                        missing += 1
                        continue
                    written += 1
                    table.writerow(
                        [
                            name,
                            folder,
                            prediction.pk,
                            image,
                            "" if prediction.prediction is None else prediction.prediction,
                            f"{prediction.confidence:.6f}",
                            int(prediction.rejected),
                            prediction.source,
                            prediction.model_version.version if prediction.model_version_id else "",
                            prediction.reviewed_by.get_username() if prediction.reviewed_by_id else "",
                            prediction.reviewed_at.isoformat() if prediction.reviewed_at else "",
                            prediction.original_name,
                        ]
                    )
            labels.seek(0)
            with archive.open("labels.csv", "w", force_zip64=True) as target:
                for line in labels:
                    target.write(line.encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ReviewExport(path=path, written=written, missing=missing)
