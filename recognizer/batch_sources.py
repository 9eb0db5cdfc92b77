"""Where the images of a batch job come from: a zip archive, a folder, or an IDX file.

Plain Python (no Django). Archives are never extracted to disk: members are read one at
a time into memory, each bounded, and their names are only reported, never used as paths.
A manifest (member names, labels, where to read each one) is built once, when the job is
created, and every chunk task reads its slice of the items through it.

Labels: the nearest parent folder whose name is one digit (``train/7/a.png`` -> 7), or the
IDX labels file beside an IDX images file. A job that reads numbers (``numbers_relabel``)
takes its labels from a ``labels.csv`` (``file,label``) beside the images, or else from the
nearest parent folder named with digits (``2026/a.png`` -> "2026").
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

ARCHIVE_SUFFIXES = (".zip", ".jar", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")
# Magic numbers of archive and compressed formats: zip, gzip, bzip2, xz, 7z, rar, zstd.
ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf",
    b"Rar!",
    b"(\xb5/\xfd",
)
NESTED_ARCHIVE = "nested archives are not read"
# A compression ratio only counts as suspicious for members larger than this.
RATIO_MIN_BYTES = 1024 * 1024


class BatchSourceError(ValueError):
    """The input cannot be read at all (not a zip, no such path, empty). A sentence for people."""


class BatchLimitError(BatchSourceError):
    """The input is readable but over a limit (too many items, too large in total)."""


@dataclass(frozen=True)
class Limits:
    max_items: int = 100_000
    max_member_bytes: int = 20 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: float = 200.0


@dataclass
class Manifest:
    """kind "zip": refs are member positions in the archive's central directory; "folder":
    paths relative to the folder; "idx": rows of the staged images array (``path``, .npy)."""

    kind: str
    path: str
    names: list[str]
    labels: list[int | str | None]  # digits; a number's text (str) in a job that reads numbers
    refs: list
    limits: Limits
    errors: dict[int, str] = field(default_factory=dict)  # items known to be unreadable up front

    def __len__(self) -> int:
        return len(self.names)

    @property
    def has_labels(self) -> bool:
        return any(label is not None for label in self.labels)

    def save(self, path: Path) -> None:
        # Not asdict(): it deep-copies every one of the thousands of names and refs.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["limits"] = asdict(self.limits)
        data["errors"] = {str(k): v for k, v in self.errors.items()}
        Path(path).write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(Path(path).read_text())
        # A staged input is named relative to the manifest's folder (older manifests: absolute).
        data["path"] = str(Path(path).parent / data["path"])
        data["limits"] = Limits(**data["limits"])
        data["errors"] = {int(k): v for k, v in data["errors"].items()}
        return cls(**data)


@dataclass
class Item:
    """One item to recognise: encoded bytes, a raw array (IDX), or an error."""

    index: int
    name: str
    label: int | str | None
    data: bytes | None = None
    array: np.ndarray | None = None
    error: str | None = None


def label_from_name(name: str) -> int | None:
    """The nearest parent folder named with one digit: ``a/3/b/x.png`` -> 3; none -> None."""
    parts = re.split(r"[\\/]+", name)[:-1]
    for part in reversed(parts):
        if len(part) == 1 and part in "0123456789":
            return int(part)
    return None


LABELS_CSV = "labels.csv"
#: The longest number label (recognizer.models.TEXT_MAX_LENGTH).
NUMBER_LABEL_MAX = 64


def number_label_from_name(name: str) -> str | None:
    """The nearest parent folder named with digits only: ``a/2026/x.png`` -> "2026"."""
    parts = re.split(r"[\\/]+", name)[:-1]
    for part in reversed(parts):
        if part.isascii() and part.isdigit() and len(part) <= NUMBER_LABEL_MAX:
            return part
    return None


def _number_label(text: str) -> str | None:
    text = (text or "").strip()
    return text if text.isascii() and text.isdigit() and len(text) <= NUMBER_LABEL_MAX else None


def numbers_relabel(manifest: Manifest) -> Manifest:
    """The manifest of a job that reads numbers: labels are strings of digits, from the
    ``labels.csv`` files among the items (``file,label``, names relative to the csv's folder;
    a label that is not digits, such as ``none`` for a word, leaves the item unlabelled), or
    from folder names. The csv files themselves are not items."""
    if manifest.kind == "idx":
        manifest.labels = [None if label is None else str(label) for label in manifest.labels]
        return manifest
    csv_positions = [i for i, name in enumerate(manifest.names) if re.split(r"[\\/]", name)[-1] == LABELS_CSV]
    from_csv: dict[str, str | None] = {}
    for position in csv_positions:
        item = next(items_read(manifest, position, position + 1))
        if item.data is None:
            raise BatchSourceError(f"cannot read {manifest.names[position]}: {item.error}")
        folder = manifest.names[position][: -len(LABELS_CSV)]
        try:
            rows = csv.DictReader(io.StringIO(item.data.decode("utf-8-sig")))
            for row in rows:
                if row.get("file"):
                    from_csv[folder + row["file"].strip()] = _number_label(row.get("label") or "")
        except (UnicodeDecodeError, csv.Error) as exc:
            raise BatchSourceError(f"{manifest.names[position]} is not a CSV file with file,label: {exc}") from exc
    keep = [i for i in range(len(manifest.names)) if i not in set(csv_positions)]
    if not keep:
        raise BatchSourceError("the input holds no images, only labels")
    names = [manifest.names[i] for i in keep]
    manifest.labels = [
        from_csv[name] if name in from_csv else number_label_from_name(name) if not csv_positions else None
        for name in names
    ]
    manifest.errors = {new: manifest.errors[old] for new, old in enumerate(keep) if old in manifest.errors}
    manifest.refs = [manifest.refs[i] for i in keep]
    manifest.names = names
    return manifest


def _looks_nested(name: str, head: bytes = b"") -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES) or head.startswith(ARCHIVE_MAGIC)


def _too_large(size: int, limits: Limits) -> str:
    return f"too large: {size} bytes uncompressed; the limit is {limits.max_member_bytes} bytes per file"


def _skipped(name: str) -> bool:
    """Metadata that archivers add (macOS resource forks), not content."""
    base = re.split(r"[\\/]", name)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store", "Thumbs.db")


# --------------------------------------------------------------------------
# Zip archives
# --------------------------------------------------------------------------


def zip_open(file) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise BatchSourceError("the file is not a zip archive we can read") from exc


def zip_manifest(file, *, path: str, limits: Limits) -> Manifest:
    """The manifest of a zip archive (a path or an open binary file), from its central
    directory alone: nothing is decompressed here."""
    with zip_open(file) as archive:
        infos = archive.infolist()
        refs = [i for i, info in enumerate(infos) if not info.is_dir() and not _skipped(info.filename)]
        if not refs:
            raise BatchSourceError("the archive holds no files")
        if len(refs) > limits.max_items:
            raise BatchLimitError(f"the archive holds {len(refs)} files; the limit is {limits.max_items} per job")
        declared = sum(infos[i].file_size for i in refs)
        if declared > limits.max_total_bytes:
            raise BatchLimitError(
                f"the archive declares {declared} bytes uncompressed; the limit is {limits.max_total_bytes} per job"
            )
        names = [infos[i].filename for i in refs]
        errors = {}
        for position, ref in enumerate(refs):
            error = _zip_member_error(infos[ref], limits)
            if error:
                errors[position] = error
    return Manifest(
        kind="zip",
        path=path,
        names=names,
        labels=[label_from_name(name) for name in names],
        refs=refs,
        limits=limits,
        errors=errors,
    )


def _zip_member_error(info: zipfile.ZipInfo, limits: Limits) -> str | None:
    """What the central directory alone says is wrong with a member."""
    if _looks_nested(info.filename):
        return NESTED_ARCHIVE
    if info.flag_bits & 0x1:
        return "encrypted files are not read"
    if info.file_size > limits.max_member_bytes:
        return _too_large(info.file_size, limits)
    if info.file_size > RATIO_MIN_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        return f"suspicious compression ratio ({info.file_size} bytes from {info.compress_size}): not read"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic links are not read"
    return None


def _zip_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> tuple[bytes | None, str | None]:
    """At most max_member_bytes + 1 bytes: a member that inflates past its declared size is
    cut off there (and fails its CRC check) instead of filling memory."""
    try:
        with archive.open(info) as member:
            data = member.read(limits.max_member_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError, ValueError) as exc:
        return None, f"cannot read this file from the archive: {exc}"
    if len(data) > limits.max_member_bytes:
        return None, _too_large(len(data), limits)
    return data, None


# --------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------


def folder_manifest(folder: Path, *, limits: Limits) -> Manifest:
    """Every regular file under `folder` (symbolic links and hidden files are skipped), in
    sorted order. The folder is read in place by the chunks: it must stay as it is."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise BatchSourceError(f"{folder} is not a folder")
    names: list[str] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for filename in sorted(files):
            full = Path(root) / filename
            if filename.startswith(".") or full.is_symlink() or not full.is_file():
                continue
            names.append(full.relative_to(folder).as_posix())
            if len(names) > limits.max_items:
                raise BatchLimitError(f"the folder holds more than {limits.max_items} files; the limit per job")
    if not names:
        raise BatchSourceError(f"{folder} holds no files")
    errors = {i: NESTED_ARCHIVE for i, name in enumerate(names) if _looks_nested(name)}
    return Manifest(
        kind="folder",
        path=str(folder),
        names=names,
        labels=[label_from_name(name) for name in names],
        refs=names,
        limits=limits,
        errors=errors,
    )


def _folder_read(folder: Path, relative: str, limits: Limits) -> tuple[bytes | None, str | None]:
    full = folder / relative
    try:
        with open(full, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.max_member_bytes:
                return None, _too_large(size, limits)
            data = handle.read(limits.max_member_bytes + 1)
    except OSError as exc:
        return None, f"cannot read this file: {exc.strerror or exc}"
    if len(data) > limits.max_member_bytes:
        return None, _too_large(len(data), limits)
    return data, None


# --------------------------------------------------------------------------
# IDX files (MNIST's format)
# --------------------------------------------------------------------------


def idx_is_images_file(path: Path) -> bool:
    """An IDX file of 2-D images: magic 0x00 0x00 0x08 0x03 (plain or gzipped)."""
    import gzip

    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as handle:
            return handle.read(4) == b"\x00\x00\x08\x03"
    except (OSError, EOFError):
        return False


def idx_labels_path(images: Path) -> Path | None:
    """The labels file beside an images file: t10k-images-idx3-ubyte -> t10k-labels-idx1-ubyte
    (also with .gz, and with dots instead of dashes)."""
    images = Path(images)
    name = images.name
    candidates = []
    for old, new in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1"), ("images", "labels")):
        if old in name:
            candidates.append(name.replace(old, new, 1))
    for candidate in list(candidates):
        candidates.append(candidate[:-3] if candidate.endswith(".gz") else candidate + ".gz")
    for candidate in candidates:
        path = images.with_name(candidate)
        if path != images and path.is_file():
            return path
    return None


def idx_manifest(images_path: Path, *, staged: Path, limits: Limits, labels_path: Path | None = None) -> Manifest:
    """Read the IDX images (and labels) once and stage the pixels as an .npy that the chunks
    memory-map; the IDX paths are recorded in the job's source."""
    from vision.idx import read_idx

    try:
        images = read_idx(images_path)
    except (OSError, ValueError) as exc:
        raise BatchSourceError(f"cannot read the IDX images file: {exc}") from exc
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[0] == 0:
        raise BatchSourceError(f"{images_path} is not an IDX file of 8-bit images (shape {images.shape})")
    if len(images) > limits.max_items:
        raise BatchLimitError(f"the IDX file holds {len(images)} images; the limit is {limits.max_items} per job")
    labels: list[int | None] = [None] * len(images)
    if labels_path is not None:
        try:
            raw = read_idx(labels_path)
        except (OSError, ValueError) as exc:
            raise BatchSourceError(f"cannot read the IDX labels file: {exc}") from exc
        if raw.ndim != 1 or len(raw) != len(images):
            raise BatchSourceError(f"{labels_path} holds {raw.shape} labels for {len(images)} images")
        labels = [int(v) if 0 <= int(v) <= 9 else None for v in raw]
    np.save(staged, images)
    base = Path(images_path).name
    return Manifest(
        kind="idx",
        path=str(staged),
        names=[f"{base}[{i}]" for i in range(len(images))],
        labels=labels,
        refs=list(range(len(images))),
        limits=limits,
    )


# --------------------------------------------------------------------------
# Reading a slice of items
# --------------------------------------------------------------------------


def items_read(manifest: Manifest, start: int, end: int) -> Iterator[Item]:
    """Items [start, end), one at a time (at most one member's bytes in memory). Raises
    BatchSourceError only when the input as a whole can no longer be read."""
    limits = manifest.limits
    if manifest.kind == "idx":
        try:
            images = np.load(manifest.path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise BatchSourceError(f"cannot read the staged images: {exc}") from exc
        for index in range(start, end):
            yield Item(index, manifest.names[index], manifest.labels[index], array=np.asarray(images[index]))
        return
    if manifest.kind == "folder":
        folder = Path(manifest.path)
        if not folder.is_dir():
            raise BatchSourceError(f"the folder {folder} is gone")
        for index in range(start, end):
            item = Item(index, manifest.names[index], manifest.labels[index], error=manifest.errors.get(index))
            if item.error is None:
                item.data, item.error = _folder_read(folder, manifest.refs[index], limits)
            yield _nested_check(item)
        return
    if manifest.kind != "zip":
        raise BatchSourceError(f"unknown input kind {manifest.kind!r}")
    archive = _zip_cached(manifest.path)
    infos = archive.infolist()
    for index in range(start, end):
        item = Item(index, manifest.names[index], manifest.labels[index], error=manifest.errors.get(index))
        if item.error is None:
            item.data, item.error = _zip_read(archive, infos[manifest.refs[index]], limits)
        yield _nested_check(item)


# Open archives of this process: the central directory of a 10,000-member zip costs tens of
# milliseconds to parse, so each process keeps the last few open (keyed by path, size, mtime).
_archives: dict[tuple, zipfile.ZipFile] = {}
ARCHIVE_CACHE_SIZE = 2


def _zip_cached(path: str) -> zipfile.ZipFile:
    try:
        info = os.stat(path)
        key = (path, info.st_size, info.st_mtime_ns)
    except OSError as exc:
        raise BatchSourceError(f"cannot open the archive: {exc.strerror or exc}") from exc
    archive = _archives.get(key)
    if archive is None:
        try:
            archive = zip_open(path)
        except (BatchSourceError, OSError) as exc:
            raise BatchSourceError(f"cannot open the archive: {exc}") from exc
        while len(_archives) >= ARCHIVE_CACHE_SIZE:
            _archives.pop(next(iter(_archives))).close()
        _archives[key] = archive
    return archive


def _nested_check(item: Item) -> Item:
    if item.data is not None and _looks_nested("", item.data[:8]):
        item.data, item.error = None, NESTED_ARCHIVE
    return item


def folder_pack(manifest: Manifest, destination: Path) -> None:
    """A folder manifest's files, in its order, into one stored zip (for workers on other
    hosts). Files it already knows to be unreadable go in as empty members with their name,
    so that the zip's manifest keeps every item; the zip's own checks (sizes, totals) apply."""
    folder = Path(manifest.path)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for index, name in enumerate(manifest.names):
            if index in manifest.errors:
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.write(folder / manifest.refs[index], arcname=name)


def zip_from_files(files, destination: Path, *, limits: Limits) -> None:
    """Several uploaded files (objects with .name and .chunks()) into one stored zip."""
    if len(files) > limits.max_items:
        raise BatchLimitError(f"{len(files)} files were sent; the limit is {limits.max_items} per job")
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for number, upload in enumerate(files):
            name = (getattr(upload, "name", "") or f"file-{number}").replace("\\", "/")
            with archive.open(zipfile.ZipInfo(name), "w", force_zip64=True) as member:
                for block in upload.chunks():
                    member.write(block)
