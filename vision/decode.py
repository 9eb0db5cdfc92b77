"""Image bytes -> a loaded Pillow image, within bounded cost; and the small encoders beside it.

Plain Python (Pillow, numpy): no Django. :func:`decode_image` reads PNG, JPEG, WebP, GIF,
BMP and TIFF only, checks each format's size limit from the header before any pixel is
decoded, applies the EXIF orientation and reduces very large images while decoding.
Anything else raises :class:`ImageDecodeError`, whose message is a sentence for the person
who sent the file. :func:`image_payload_decode` turns a JSON image field (base64 or a data
URL) into bytes; :func:`to_png` and :func:`pixels_to_uint8` store what the model saw.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import warnings

import numpy as np
from PIL import Image

__all__ = [
    "DECODE_SCALE_KEY",
    "DEFAULT_MAX_PIXELS",
    "FORMATS",
    "FULL_DECODE_MAX_BYTES",
    "WORK_MAX_SIDE",
    "ImageDecodeError",
    "InvalidImagePayload",
    "decode_image",
    "image_payload_decode",
    "pixels_to_uint8",
    "to_png",
    "work_mode",
]

#: The formats :func:`decode_image` reads; Pillow's other plugins (PSD, EPS, ICO, TGA...)
#: are never tried.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG includes MPO (phones)
#: Largest image (width x height) accepted by :func:`decode_image`: 40 MP covers
#: phone cameras; a header claiming more is refused before pixels are decoded.
#: Baseline JPEGs get this limit: they are decoded at reduced scale (draft).
DEFAULT_MAX_PIXELS = 40_000_000
#: Other formats are decoded in full, every pixel held and paid for: at most this
#: many bytes decoded (10 MP in colour, 40 MP in grey; WebP counts four times, as
#: libwebp and Pillow hold four copies of it). bench/expensive_inputs.py measures the worst cases.
FULL_DECODE_MAX_BYTES = 40_000_000
#: RLE-compressed BMP: Pillow decodes it in Python, a pixel at a time.
BMP_RLE_MAX_PIXELS = 1_000_000
#: Progressive (or multi-scan) JPEG: libjpeg holds every DCT coefficient until the
#: last scan; at most this many bytes of them (a 21 MP 4:2:0 colour photo).
JPEG_COEFFICIENT_MAX_BYTES = 64_000_000

_EXIF_ORIENTATION = 0x0112
#: Set in Image.info by decode_image when a JPEG was decoded at reduced size:
#: file pixels per decoded pixel.
DECODE_SCALE_KEY = "mnistsite_decode_scale"

# Images are worked on at most this size (longest side); larger ones are
# reduced first (area average), which keeps photos cheap and loses nothing at
# a 20 px output.
WORK_MAX_SIDE = 512


class ImageDecodeError(ValueError):
    """The uploaded bytes are not a readable image, or it is too large.

    The message is a sentence meant for the person who uploaded the file.
    """


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes into a loaded Pillow image (first frame, EXIF-rotated).

    Raises :class:`ImageDecodeError`, and no other exception, for anything that
    is not a readable image of one of FORMATS or is larger than its format's
    limit (``max_pixels`` at most); the size is checked from the header,
    before any pixel is decoded.

    The cost is bounded: a JPEG is decoded at reduced scale (draft), other
    formats in full but under a lower cap, and an image larger than twice
    WORK_MAX_SIDE is reduced by an integer factor (box average) right after
    decoding, strip by strip, to the mode preprocess_pil works in; its
    ``info[DECODE_SCALE_KEY]`` then says by how much. ``format`` is the
    format Pillow detected.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise ImageDecodeError("The upload is not a file.")
    if not data:
        raise ImageDecodeError("The file is empty.")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns between 1x and 2x its limit; we
            # apply ours right after, so the warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise _too_large() from exc
    except Exception as exc:  # Pillow raises many types for garbage input.
        raise ImageDecodeError("The file is not an image we can read (PNG, JPEG, WebP, GIF, BMP or TIFF).") from exc
    try:
        width, height = img.size
        fmt = img.format
        if width <= 0 or height <= 0:
            raise ImageDecodeError("The image has no pixels.")
        limit, kind = _pixel_limit(img, data, max_pixels)
        if width * height > limit:
            raise _too_large(width, height, limit, kind)
        # Read before load: counting frames can mean reading every one (a TIFF's pages).
        several_frames = bool(getattr(img, "is_animated", False))
        if fmt in _JPEG_FORMATS and max(width, height) > 2 * WORK_MAX_SIDE:
            # Decode at a reduced scale (1/2 .. 1/8): much faster, and we
            # would reduce the image anyway.
            img.draft(img.mode, (WORK_MAX_SIDE, WORK_MAX_SIDE))
        img.load()
        orientation = 1
        # A corrupt EXIF block is not worth refusing the image: keep it unrotated.
        with contextlib.suppress(Exception):
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        if max(img.size) > 2 * WORK_MAX_SIDE:
            img = _reduced_for_work(img)
        elif several_frames:
            img = img.copy()  # the first frame alone: nothing later counts the frames
        decode_scale = width / img.size[0]
        if orientation in _TRANSPOSE:
            img = img.transpose(_TRANSPOSE[orientation])
        if decode_scale != 1.0:
            # Lets preprocess_pil report the ink box in the file's own pixels.
            img.info[DECODE_SCALE_KEY] = decode_scale
        img.format = fmt
        return img
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise _too_large() from exc
    except Exception as exc:
        raise ImageDecodeError("The image file is damaged or truncated and cannot be read.") from exc


_JPEG_FORMATS = ("JPEG", "MPO")
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Rows reduced at a time by _reduced_for_work (rounded to the factor).
_STRIP_ROWS = 256


def _pixel_limit(img: Image.Image, data: bytes, max_pixels: int) -> tuple[int, str]:
    """The largest width x height decode_image accepts for this file, and what the limit is
    for ("PNG images"), from the header alone."""
    fmt = img.format
    if fmt in _JPEG_FORMATS:
        if _jpeg_buffers_coefficients(img, data):
            # libjpeg keeps every DCT coefficient (2 bytes) of a progressive or multi-scan
            # JPEG until the last scan, whatever the draft scale.
            layers = getattr(img, "layer", None) or [(None, 1, 1, None)] * len(img.getbands())
            h_max = max(h for _, h, _, _ in layers) or 1
            v_max = max(v for _, _, v, _ in layers) or 1
            per_pixel = 2.0 * sum(h * v for _, h, v, _ in layers) / (h_max * v_max)
            return min(max_pixels, int(JPEG_COEFFICIENT_MAX_BYTES / per_pixel)), "progressive JPEG images"
        return max_pixels, "JPEG images"
    if fmt == "BMP" and img.info.get("compression") in (1, 2):  # RLE8, RLE4
        return min(max_pixels, BMP_RLE_MAX_PIXELS), "compressed BMP images"
    per_pixel = _decoded_bytes_per_pixel(img)
    if fmt == "WEBP":
        per_pixel *= 4  # libwebp's decoder keeps two canvases, and Pillow copies its output twice
    limit = int(FULL_DECODE_MAX_BYTES / per_pixel)
    return min(max_pixels, limit), f"{fmt} images like this one ({img.mode}{', 16-bit' if _sixteen_bit(img) else ''})"


def _decoded_bytes_per_pixel(img: Image.Image) -> int:
    """Bytes a decoded pixel takes (Pillow keeps images of 2 to 4 bands in 4 bytes a pixel),
    doubled where the file holds 16-bit samples that the decoder reads first."""
    if img.mode in ("I", "F"):
        size = 4
    elif img.mode.startswith("I;16"):
        size = 2
    else:
        size = 1 if len(img.getbands()) == 1 else 4
    return size * 2 if _sixteen_bit(img) and size != 2 else size


def _sixteen_bit(img: Image.Image) -> bool:
    """Whether the decoder reads 16-bit samples into a mode of 8-bit ones (a 16-bit RGBA PNG)."""
    return not img.mode.startswith("I;16") and any(";16" in str(tile.args) for tile in getattr(img, "tile", []))


def _jpeg_buffers_coefficients(img: Image.Image, data: bytes) -> bool:
    """Whether the JPEG has several scans (progressive, or baseline non-interleaved), which
    libjpeg decodes through a buffer of the whole image's coefficients."""
    if img.info.get("progressive") or img.info.get("progression"):
        return True
    # Walk the marker segments up to the first scan (SOS); thumbnails inside APP segments
    # are skipped that way. A second SOS marker after it means several scans: entropy-coded
    # data never holds one (a 0xFF byte there is followed by 0x00 or a restart marker).
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xDA:
            return data.find(b"\xff\xda", at + 2) != -1
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return False


def work_mode(img: Image.Image) -> str:
    """The mode preprocess_pil (_to_grey) reduces an image of img's mode in."""
    mode = img.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if mode == "P":
        return "RGBA" if has_alpha else "RGB"
    if mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        return "L"
    if has_alpha and mode not in ("RGBA", "LA"):
        return "RGBA"
    if mode in ("L", "RGB", "RGBA", "LA", "F", "I"):
        return mode
    return "F" if mode.startswith("I") else "RGB"


def _reduced_for_work(img: Image.Image) -> Image.Image:
    """A loaded image reduced by the largest integer factor that keeps its longest side at
    least WORK_MAX_SIDE (box average; premultiplied alpha), in _work_mode. Strip by strip:
    besides the decoded image, only a strip and the small result are held."""
    factor = max(img.size) // WORK_MAX_SIDE
    mode = work_mode(img)
    width, height = img.size
    out = Image.new(mode, (-(-width // factor), -(-height // factor)))
    rows = factor * max(1, _STRIP_ROWS // factor)
    for top in range(0, height, rows):
        strip = img.crop((0, top, width, min(height, top + rows)))
        if strip.mode != mode:
            strip = strip.convert(mode)
        out.paste(strip.reduce(factor), (0, top // factor))
    out.info = {k: v for k, v in img.info.items() if k != "transparency"}
    return out


def _too_large(
    width: int | None = None, height: int | None = None, limit: int | None = None, kind: str = "images"
) -> ImageDecodeError:
    if width is None:
        return ImageDecodeError("The image is too large to process.")
    return ImageDecodeError(
        f"The image is too large ({width}x{height} pixels); for {kind} the limit is {limit / 1e6:g} million pixels."
    )


def to_png(pixels: np.ndarray) -> bytes:
    """Encode a (28, 28) [0, 1] array (what the model saw) as an 8-bit PNG."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {arr.shape}")
    img = Image.fromarray(np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8))  # 2-D uint8: mode L
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class InvalidImagePayload(ValueError):
    """The JSON image field is not base64 or a data URL."""


def image_payload_decode(payload: str) -> bytes:
    """Bytes from a base64 string or a data URL (what a canvas's toDataURL() gives)."""
    if not isinstance(payload, str) or not payload.strip():
        raise InvalidImagePayload("the image field is empty: send base64 or a data URL")
    text = payload.strip()
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or ";base64" not in header:
            raise InvalidImagePayload("the data URL must be base64-encoded (data:image/png;base64,...)")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImagePayload("the image field is not valid base64") from exc
    if not data:
        raise InvalidImagePayload("the image field decodes to zero bytes")
    return data


def pixels_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Model input in [0, 1] as the 8-bit grey levels we store (any shape: one image or a stack)."""
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
