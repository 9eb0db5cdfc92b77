"""export_reviews: the reviewed originals in label folders with labels.csv, written atomically."""

import csv
import io
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from PIL import Image

from recognizer import review_export
from recognizer.models import NOT_A_DIGIT, LabelSource
from recognizer.review_export import reviews_export
from tests.factories import PredictionFactory
from tests.images import digit_png

pytestmark = pytest.mark.django_db


def reviewed(*, label: int, original: bytes | None = None, **fields):
    row = PredictionFactory(true_label=label, label_source=LabelSource.REVIEW, **fields)
    if original is not None:
        row.original.save("upload.png", ContentFile(original))
    return row


def read(path) -> tuple[dict[str, bytes], list[dict]]:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    rows = list(csv.DictReader(io.StringIO(members.pop("labels.csv").decode("utf-8"))))
    return members, rows


def test_export_writes_originals_in_label_folders_with_labels_csv(tmp_path):
    seven = digit_png(0)[0]
    digit = reviewed(label=7, original=seven, original_name="my seven.png")
    refused = reviewed(label=NOT_A_DIGIT, original=b"\x89PNG fake but stored as is", prediction=None)
    batch_item = reviewed(label=3, source="batch", model_input=bytes(range(256)) * 3 + bytes(16))
    PredictionFactory(true_label=5, label_source=LabelSource.BATCH)  # a batch label is not a review
    PredictionFactory()  # not labelled

    out = tmp_path / "reviews.zip"
    export = reviews_export(path=out)

    assert (export.written, export.missing) == (3, 0)
    members, rows = read(out)
    assert set(members) == {f"7/{digit.pk}.png", f"none/{refused.pk}.png", f"3/{batch_item.pk}.png"}
    assert members[f"7/{digit.pk}.png"] == seven  # the original, byte for byte
    assert members[f"none/{refused.pk}.png"] == b"\x89PNG fake but stored as is"
    # A batch item keeps no original: its 28x28 model input, as PNG.
    image = Image.open(io.BytesIO(members[f"3/{batch_item.pk}.png"]))
    assert image.size == (28, 28) and image.tobytes() == bytes(batch_item.model_input)
    assert list(rows[0])[:2] == ["file", "label"]
    by_file = {row["file"]: row for row in rows}
    assert set(by_file) == set(members)
    assert (by_file[f"7/{digit.pk}.png"]["label"], by_file[f"7/{digit.pk}.png"]["image"]) == ("7", "original")
    assert by_file[f"7/{digit.pk}.png"]["original_name"] == "my seven.png"
    assert by_file[f"none/{refused.pk}.png"]["label"] == "none"
    assert by_file[f"3/{batch_item.pk}.png"]["image"] == "input"


def test_a_missing_original_falls_back_to_the_model_input_and_none_at_all_is_counted(tmp_path):
    lost = reviewed(label=1, original=b"gone soon")
    lost.original.storage.delete(lost.original.name)
    nothing = reviewed(label=2, model_input=None)
    export = reviews_export(path=tmp_path / "out.zip")
    assert (export.written, export.missing) == (1, 1)
    members, rows = read(tmp_path / "out.zip")
    assert set(members) == {f"1/{lost.pk}.png"} and rows[0]["image"] == "input"
    assert nothing.pk not in {int(row["id"]) for row in rows}


def test_an_error_leaves_no_archive_and_an_older_one_untouched(tmp_path, monkeypatch):
    reviewed(label=4)
    reviewed(label=5)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "reviews.zip"
    out.write_bytes(b"yesterday's export")

    def broken(model_input):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(review_export, "_input_png", broken)
    with pytest.raises(RuntimeError):
        reviews_export(path=out)
    assert out.read_bytes() == b"yesterday's export"
    assert sorted(p.name for p in folder.iterdir()) == ["reviews.zip"]  # no temporary file left


def test_export_reads_rows_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(review_export, "CHUNK", 2)
    rows = [reviewed(label=n) for n in range(5)]
    export = reviews_export(path=tmp_path / "out.zip")
    members, listed = read(tmp_path / "out.zip")
    assert export.written == 5 and [int(row["id"]) for row in listed] == [row.pk for row in rows]


def test_command_writes_the_zip_and_says_how_many(tmp_path):
    reviewed(label=6)
    out = io.StringIO()
    call_command("export_reviews", str(tmp_path / "r.zip"), stdout=out)
    assert "Wrote 1 reviewed image to" in out.getvalue()
    assert zipfile.ZipFile(tmp_path / "r.zip").namelist()[-1] == "labels.csv"


def test_command_refuses_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_reviews", str(tmp_path / "nowhere" / "r.zip"))
