"""vision.decode: bytes -> a loaded Pillow image within bounded cost, or ImageDecodeError with
a sentence for the sender; the JSON payload and storage encoders beside it."""

import base64
import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.images import big_digit_canvas, encode, ink_mask
from vision.decode import (
    DECODE_SCALE_KEY,
    WORK_MAX_SIDE,
    ImageDecodeError,
    InvalidImagePayload,
    decode_image,
    image_payload_decode,
    pixels_to_uint8,
    to_png,
)
from vision.preprocess import preprocess_decoded


def on_paper(mask: Image.Image, *, grain: bool = False) -> Image.Image:
    """Black ink (the mask) on white paper, with pixel grain if asked: an RGB image."""
    alpha = np.asarray(mask, dtype=np.float32) / 255.0
    paper = np.full(alpha.shape, 0.9)
    if grain:
        paper = paper + np.random.default_rng(0).normal(0, 0.03, alpha.shape)
    grey = np.clip(paper * (1 - alpha) + 0.1 * alpha, 0, 1)
    return Image.fromarray((grey * 255).astype(np.uint8)).convert("RGB")


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a tiny (wrong) body."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def truncated(fmt: str) -> bytes:
    data = encode(on_paper(ink_mask("7"), grain=True), fmt)
    return data[: len(data) // 2]


BAD_BYTES = {
    "empty": lambda: b"",
    "text": lambda: b"hello, this is not an image",
    "html": lambda: b"<html><body>nope</body></html>",
    "png signature only": lambda: b"\x89PNG\r\n\x1a\n",
    "truncated png": lambda: truncated("PNG"),
    "truncated jpeg": lambda: truncated("JPEG"),
    "truncated webp": lambda: truncated("WEBP"),
    "decompression bomb header": lambda: png_with_header(65000, 65000),
    "zero-width header": lambda: png_with_header(0, 10),
    "png header, corrupt body": lambda: png_with_header(100, 100),
    "random bytes": lambda: np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
}


@pytest.mark.parametrize("name", sorted(BAD_BYTES))
def test_unreadable_bytes_raise_image_decode_error(name):
    with pytest.raises(ImageDecodeError) as info:
        decode_image(BAD_BYTES[name]())
    assert str(info.value).endswith(".")  # a sentence for the 400 response


def test_bomb_is_refused_from_the_header_without_decoding():
    started = time.perf_counter()
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(png_with_header(65000, 65000))
    assert time.perf_counter() - started < 0.5


def test_max_pixels_is_configurable():
    data = encode(on_paper(ink_mask("7", side=100)), "PNG")
    assert decode_image(data).size == (100, 100)
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(data, max_pixels=99 * 99)


def test_a_large_png_is_reduced_while_decoding_and_its_ink_box_is_in_file_pixels():
    data = encode(big_digit_canvas((3000, 2000), style="transparent"), "PNG")
    image = decode_image(data)
    assert max(image.size) < 2 * WORK_MAX_SIDE and image.mode == "RGBA" and image.format == "PNG"
    assert image.info[DECODE_SCALE_KEY] == pytest.approx(3000 / image.size[0])
    result = preprocess_decoded(image)
    assert not result.rejected
    left, top, right, bottom = result.bbox
    assert 1000 < left < right < 2000 and 600 < top < bottom < 1400  # the digit's 666 px square, centred


PNG_BYTES = encode(Image.new("L", (3, 2), 200), "PNG")


@pytest.mark.parametrize(
    "payload",
    [
        base64.b64encode(PNG_BYTES).decode(),
        base64.b64encode(PNG_BYTES).decode().rstrip("="),
        "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode(),
        "  " + base64.b64encode(PNG_BYTES).decode() + "\n",
    ],
)
def test_image_payload_decode_reads_base64_and_data_urls(payload):
    assert image_payload_decode(payload) == PNG_BYTES
    assert decode_image(image_payload_decode(payload)).size == (3, 2)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "empty"),
        (None, "empty"),
        ("data:image/png,abc", "base64-encoded"),
        ("not base64 at all!", "not valid base64"),
        ("data:image/png;base64,", "zero bytes"),
    ],
)
def test_image_payload_decode_refuses_what_is_not_base64(payload, message):
    with pytest.raises(InvalidImagePayload, match=message):
        image_payload_decode(payload)


def test_to_png_round_trips_the_stored_grey_levels():
    pixels = np.linspace(0.0, 1.0, 28 * 28, dtype=np.float32).reshape(28, 28)
    img = Image.open(io.BytesIO(to_png(pixels)))
    assert img.format == "PNG" and img.mode == "L" and img.size == (28, 28)
    assert np.array_equal(np.asarray(img), pixels_to_uint8(pixels))
    with pytest.raises(ValueError, match="2-D"):
        to_png(np.zeros((2, 28, 28)))
