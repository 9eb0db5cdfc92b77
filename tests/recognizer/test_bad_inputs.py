"""The bad-input corpus: every case gets a correct answer or a 4xx JSON error, never a 500,
and a refused request leaves no file and no row behind."""

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from recognizer.models import Prediction
from tests.images import big_digit_canvas, bmp_rle8, encode, mnist_sample, render, tiff_many_pages

pytestmark = pytest.mark.django_db

IMAGES, LABELS = mnist_sample()
DIGIT = IMAGES[5]
LABEL = int(LABELS[5])


def png_header_only(width: int, height: int, *, rgba: bool = False) -> bytes:
    """A few hundred bytes of PNG that declare a huge image (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8 if rgba else 1, 6 if rgba else 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def paper(side: int = 280) -> Image.Image:
    return render(DIGIT, style="paper", side=side)


def animated_gif() -> bytes:
    frames = [paper(140).convert("P"), Image.new("P", (140, 140), 0)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def multipage_tiff() -> bytes:
    buffer = io.BytesIO()
    paper().save(buffer, format="TIFF", save_all=True, append_images=[Image.new("L", (280, 280), 255)])
    return buffer.getvalue()


def png16() -> bytes:
    array = np.asarray(paper(), dtype=np.uint16) * 257
    return encode(Image.fromarray(array.astype(np.uint16)))


def palette_with_transparency() -> bytes:
    image = render(DIGIT, style="transparent").convert("RGBA")
    return encode(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16))


def exif_rotated_jpeg() -> bytes:
    # Stored rotated by 90 degrees; the EXIF orientation tag (6) says how to turn it back.
    stored = paper().convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def jpeg_declaring(width: int, height: int, **options) -> bytes:
    """A small JPEG whose frame header (SOF) is patched to declare width x height: refused from
    its header, or else a damaged file."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "white"), "JPEG", **options))
    sof = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_lossless_blank(side: int) -> bytes:
    return encode(Image.new("RGB", (side, side), "white"), "WEBP", lossless=True)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


DIGIT_PNG = encode(paper())
OK = "digit"
REJECTED = "rejected"

# (case id, how to send: ("file", bytes, name) | ("json", body) | ("raw", body, content type), expected)
CORPUS = [
    ("zero-bytes", ("file", b"", "empty.png"), 400),
    ("truncated-png", ("file", DIGIT_PNG[: len(DIGIT_PNG) // 2], "half.png"), 400),
    ("truncated-jpeg", ("file", encode(paper().convert("RGB"), "JPEG")[:600], "half.jpg"), 400),
    ("text-named-png", ("file", b"hello, this is text", "note.png"), 400),
    ("html-named-png", ("file", b"<!doctype html><script>alert(1)</script>", "x.png"), 400),
    ("svg-named-png", ("file", b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>', "s.png"), 400),
    ("pdf", ("file", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "doc.pdf"), 400),
    ("bomb-30000", ("file", png_header_only(30000, 30000), "bomb.png"), 400),
    ("header-65000", ("file", png_header_only(65000, 65000), "huge.png"), 400),
    # Expensive pixels: refused from the header above each format's limit, read at the limit.
    ("png-rgba-40mp", ("file", png_header_only(8000, 5000, rgba=True), "big.png"), 400),
    ("jpeg-64mp", ("file", jpeg_declaring(8000, 8000), "huge.jpg"), 400),
    ("jpeg-progressive-36mp", ("file", jpeg_declaring(6000, 6000, progressive=True), "prog.jpg"), 400),
    ("webp-lossless-4mp", ("file", lambda: webp_lossless_blank(2000), "big.webp"), 400),
    ("bmp-rle8-rows-cut-2mp", ("file", lambda: bmp_rle8(2000, 1000, run=1, eol_after=1), "rle.bmp"), 400),
    ("png-rgba-9mp", ("file", lambda: encode(big_digit_canvas((3000, 3000), style="transparent")), "c.png"), OK),
    ("jpeg-24mp-phone", ("file", lambda: encode(big_digit_canvas((6000, 4000)), "JPEG", quality=90), "p.jpg"), OK),
    ("gif-9mp", ("file", lambda: encode(big_digit_canvas((3000, 3000)).convert("P"), "GIF"), "big.gif"), OK),
    ("tiff-20000-pages", ("file", lambda: tiff_many_pages(20_000), "pages.tiff"), OK),
    ("one-pixel", ("file", encode(Image.new("L", (1, 1), 255)), "dot.png"), REJECTED),
    ("strip-10000x10", ("file", encode(Image.new("L", (10000, 10), 255)), "strip.png"), REJECTED),
    ("fully-transparent", ("file", encode(Image.new("RGBA", (200, 200), (0, 0, 0, 0))), "clear.png"), REJECTED),
    ("animated-gif", ("file", animated_gif(), "anim.gif"), OK),
    ("multipage-tiff", ("file", multipage_tiff(), "scan.tiff"), OK),
    ("png-16-bit", ("file", png16(), "deep.png"), OK),
    ("cmyk-jpeg", ("file", encode(paper().convert("CMYK"), "JPEG", quality=95), "print.jpg"), OK),
    ("palette-transparency", ("file", palette_with_transparency(), "pal.png"), OK),
    ("exif-rotated-jpeg", ("file", exif_rotated_jpeg(), "phone.jpg"), OK),
    ("webp", ("file", encode(paper(), "WEBP", quality=90), "d.webp"), OK),
    ("bmp", ("file", encode(paper(), "BMP"), "d.bmp"), OK),
    ("path-traversal-name", ("file", DIGIT_PNG, "../../../etc/passwd.png"), OK),
    ("unicode-name", ("file", DIGIT_PNG, "çiffre-٣-数字.png"), OK),
    ("missing-field", ("multipart", {}), 400),
    ("wrong-field-name", ("multipart", {"upload": SimpleUploadedFile("d.png", DIGIT_PNG)}), 400),
    ("json-empty-image", ("json", {"image": ""}), 400),
    ("json-invalid-base64", ("json", {"image": "@@@@not base64@@@@"}), 400),
    ("json-non-image-base64", ("json", {"image": base64.b64encode(b"plain words").decode()}), 400),
    ("json-data-url-not-base64", ("json", {"image": "data:image/png,rawbytes"}), 400),
    ("json-data-url-non-image", ("json", {"image": data_url(b"<html></html>", "text/html")}), 400),
    ("json-data-url-digit", ("json", {"image": data_url(DIGIT_PNG)}), OK),
    ("json-not-an-object", ("raw", b"[1, 2, 3]", "application/json"), 400),
    ("json-a-string", ("raw", b'"iVBORw0KGgo="', "application/json"), 400),
    ("json-malformed", ("raw", b'{"image": ', "application/json"), 400),
    ("json-image-not-string", ("json", {"image": 12345}), 400),
    ("text-plain-body", ("raw", b"an image, honest", "text/plain"), 415),
]


def send(client, how):
    kind = how[0]
    if kind == "file":
        data = how[1]() if callable(how[1]) else how[1]  # big inputs are built when their case runs
        return client.post("/api/predict", {"file": SimpleUploadedFile(how[2], data, content_type="image/png")})
    if kind == "multipart":
        return client.post("/api/predict", how[1])
    if kind == "json":
        return client.post("/api/predict", how[1], content_type="application/json")
    return client.post("/api/predict", how[1], content_type=how[2])


@pytest.mark.parametrize(("how", "expected"), [case[1:] for case in CORPUS], ids=[case[0] for case in CORPUS])
def test_every_bad_input_gets_an_answer_or_a_clear_4xx(client, served_default_model, media_root, how, expected):
    response = send(client, how)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    if expected == OK:
        assert response.status_code == 200, body
        assert body["prediction"] == LABEL, body
        assert Prediction.objects.filter(pk=body["id"]).exists()
    elif expected == REJECTED:
        assert response.status_code == 200, body
        assert body["rejected"] is True and body["reason"], body
        assert body["prediction"] is None
    else:
        assert response.status_code == expected, body
        assert set(body) == {"error", "detail"}
        assert isinstance(body["error"], str) and len(body["error"]) > 10
        assert "Traceback" not in response.content.decode()
        assert Prediction.objects.count() == 0
        assert not [path for path in media_root.rglob("*") if path.is_file()]


def test_the_corpus_has_at_least_thirty_cases():
    assert len(CORPUS) >= 30


def test_body_over_the_limit_gets_413_and_nothing_is_stored(client, served_default_model, settings, media_root):
    settings.MAX_UPLOAD_BYTES = 50_000
    big = encode(Image.effect_noise((400, 400), 64).convert("L"))
    assert len(big) > 50_000 + 64 * 1024 or len(big) > 50_000
    response = client.post("/api/predict", {"file": SimpleUploadedFile("big.png", big)})
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert Prediction.objects.count() == 0
    assert not [path for path in media_root.rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (png_header_only(8000, 5000, rgba=True), "PNG images like this one (RGBA)"),
        (jpeg_declaring(6000, 6000, progressive=True), "progressive JPEG"),
        (jpeg_declaring(8000, 8000), "JPEG images the limit is 40 million pixels"),
    ],
    ids=["png-rgba", "jpeg-progressive", "jpeg"],
)
def test_an_image_over_its_formats_limit_is_refused_with_the_size_and_the_limit(
    client, served_default_model, data, words
):
    response = client.post("/api/predict", {"file": SimpleUploadedFile("big", data)})
    assert response.status_code == 400
    assert "too large" in response.json()["error"] and words in response.json()["error"]
