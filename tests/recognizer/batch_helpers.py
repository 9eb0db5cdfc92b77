"""Archives for the batch tests, made on the fly from the MNIST test sample."""

import io
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.images import encode, mnist_sample


def mnist_pngs(count: int) -> list[tuple[bytes, int]]:
    """`count` small PNGs (28x28 grey, as MNIST itself), the 30 sample digits over and over."""
    images, labels = mnist_sample()
    encoded = [(encode(Image.fromarray(images[i])), int(labels[i])) for i in range(len(images))]
    return [encoded[i % len(encoded)] for i in range(count)]


def zip_bytes(members: list[tuple[str, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def labelled_zip(count: int, extra: list[tuple[str, bytes]] = ()) -> bytes:
    """Digits in folders named by their label: digits/<label>/<n>.png."""
    members = [(f"digits/{label}/{n:05d}.png", data) for n, (data, label) in enumerate(mnist_pngs(count))]
    return zip_bytes(members + list(extra), compression=zipfile.ZIP_STORED)


def upload(data: bytes, name: str = "batch.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")
