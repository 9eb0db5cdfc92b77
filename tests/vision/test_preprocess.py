"""vision.preprocess: image bytes -> MNIST-style 28x28, or a rejection with a reason.

Fixtures are drawn with Pillow (tests.images.ink_mask: a 7, a 4, a two-part 5, a 0) on
the backgrounds people upload: transparent canvases, white and dark canvases,
paper with uneven light and noise, coloured paper with blue ink; saved in every
mode and format the API accepts.
"""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.images import STROKE_DIGITS, ink_mask
from vision.decode import to_png
from vision.preprocess import Preprocessed, preprocess_bytes, preprocess_pil

SIDE = 280


def compose(mask: Image.Image, background: str, seed: int = 0) -> Image.Image:
    """Put the ink mask on a background; returns RGB, RGBA or L."""
    side = mask.size[0]
    alpha = np.asarray(mask, dtype=np.float32) / 255.0
    rng = np.random.default_rng(seed)
    if background == "transparent_black":
        rgba = np.zeros((side, side, 4), np.uint8)
        rgba[..., 3] = np.asarray(mask)
        return Image.fromarray(rgba)
    if background == "transparent_white":  # white strokes: colour must not matter
        rgba = np.full((side, side, 4), 255, np.uint8)
        rgba[..., 3] = np.asarray(mask)
        return Image.fromarray(rgba)
    if background == "white":
        paper, ink = np.full((side, side), 1.0), 0.0
    elif background == "dark":
        paper, ink = np.zeros((side, side)), 1.0
    elif background == "gradient":  # a scan with uneven light
        yy, xx = np.mgrid[0:side, 0:side] / side
        paper, ink = 0.95 - 0.35 * xx * yy, 0.25
    elif background == "photo":  # shadowed, textured, noisy paper
        yy, xx = np.mgrid[0:side, 0:side] / side
        paper = 0.85 - 0.3 * np.clip(xx - 0.4, 0, 1) + rng.normal(0, 0.02, (side, side))
        ink = 0.2
    elif background == "coloured":  # blue ink on yellow paper, RGB
        yy, xx = np.mgrid[0:side, 0:side] / side
        shade = (1.0 - 0.25 * yy)[..., None]
        paper = np.array([0.95, 0.90, 0.60]) * shade
        ink = np.array([0.10, 0.15, 0.55])
        rgb = paper * (1 - alpha[..., None]) + ink * alpha[..., None]
        return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    else:
        raise ValueError(background)
    grey = paper * (1 - alpha) + ink * alpha
    return Image.fromarray((np.clip(grey, 0, 1) * 255).astype(np.uint8))


def to_mode(img: Image.Image, mode: str) -> Image.Image:
    if mode == img.mode:
        return img
    if mode == "I;16":
        arr = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        return Image.frombytes("I;16", img.size, arr.astype("<u2").tobytes())
    if mode == "F":
        return Image.fromarray(np.asarray(img.convert("L"), dtype=np.float32) / 255.0)
    if mode == "P" and img.mode == "RGBA":
        # A palette image whose index 15 is transparent, as drawing apps save it.
        quantised = img.convert("RGB").quantize(colors=15)
        data = np.asarray(quantised).copy()
        data[np.asarray(img)[..., 3] < 128] = 15
        out = Image.frombytes("P", img.size, data.astype(np.uint8).tobytes())
        palette = quantised.getpalette()[: 15 * 3]
        out.putpalette(palette + [0] * (256 * 3 - len(palette)))
        out.info["transparency"] = 15
        return out
    return img.convert(mode)


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    total = pixels.sum()
    ys, xs = np.indices(pixels.shape)
    return float((ys * pixels).sum() / total), float((xs * pixels).sum() / total)


def assert_mnist_like(result: Preprocessed) -> np.ndarray:
    assert isinstance(result, Preprocessed)
    assert result.reason is None, result.reason
    pixels = result.pixels
    assert pixels.shape == (28, 28)
    assert pixels.dtype == np.float32
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert pixels.max() > 0.9  # ink high
    assert pixels.mean() < 0.3  # on a black field, not a white square
    cy, cx = centre_of_mass(pixels)
    assert abs(cy - 14.0) <= 1.0 and abs(cx - 14.0) <= 1.0, (cy, cx)
    rows = np.flatnonzero((pixels > 0.1).any(axis=1))
    cols = np.flatnonzero((pixels > 0.1).any(axis=0))
    longest = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    assert 18 <= longest <= 21, longest
    return pixels


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.fixture(scope="module")
def reference():
    """What each clean digit (white ink on black, L, no compression) comes out as."""
    return {d: preprocess_pil(compose(ink_mask(d), "dark")).pixels for d in STROKE_DIGITS}


# (background, mode, format): the uploads we must read as a digit.
VARIANTS = [
    ("transparent_black", "RGBA", "PNG"),
    ("transparent_white", "RGBA", "PNG"),
    ("transparent_black", "LA", "PNG"),
    ("transparent_black", "RGBA", "WEBP"),
    ("transparent_black", "RGBA", "TIFF"),
    ("transparent_black", "P", "PNG"),  # palette with a transparent index
    ("transparent_black", "P", "GIF"),
    ("white", "RGB", "PNG"),
    ("white", "RGB", "JPEG"),
    ("white", "L", "BMP"),
    ("white", "1", "PNG"),
    ("white", "1", "TIFF"),
    ("white", "P", "GIF"),
    ("white", "CMYK", "JPEG"),
    ("white", "I;16", "PNG"),
    ("white", "I", "TIFF"),
    ("white", "F", "TIFF"),
    ("dark", "L", "PNG"),
    ("dark", "RGB", "WEBP"),
    ("dark", "L", "JPEG"),
    ("gradient", "L", "JPEG"),
    ("gradient", "I;16", "TIFF"),
    ("photo", "L", "JPEG"),
    ("photo", "RGB", "PNG"),
    ("coloured", "RGB", "JPEG"),
]


@pytest.mark.parametrize("digit", ["7", "5"])
@pytest.mark.parametrize(("background", "mode", "fmt"), VARIANTS)
def test_digit_upload_becomes_centred_mnist_digit(reference, digit, background, mode, fmt):
    img = to_mode(compose(ink_mask(digit), background), mode)
    options = {"transparency": 15} if "transparency" in img.info else {}
    data = encode(img, fmt, **options)
    pixels = assert_mnist_like(preprocess_bytes(data))
    assert similarity(pixels, reference[digit]) > 0.85


@pytest.mark.parametrize("background", ["white", "dark", "transparent_black", "photo"])
def test_polarity_is_reported(background):
    expected = {"white": "dark_on_light", "photo": "dark_on_light", "dark": "light_on_dark"}.get(background, "alpha")
    result = preprocess_pil(compose(ink_mask("4"), background))
    assert result.polarity == expected


def test_ink_bounding_box_is_in_input_coordinates():
    result = preprocess_pil(compose(ink_mask("7"), "white"))
    left, top, right, bottom = result.bbox
    assert abs(left - 0.30 * SIDE) < 0.05 * SIDE and abs(right - 0.70 * SIDE) < 0.05 * SIDE
    assert abs(top - 0.25 * SIDE) < 0.05 * SIDE and abs(bottom - 0.80 * SIDE) < 0.05 * SIDE


def test_large_jpeg_is_decoded_small_but_bbox_is_in_file_pixels():
    photo = compose(ink_mask("7", side=2000), "white").convert("RGB")
    result = preprocess_bytes(encode(photo, "JPEG", quality=90))
    assert_mnist_like(result)
    left, top, right, bottom = result.bbox
    assert abs(left - 0.30 * 2000) < 0.05 * 2000 and abs(bottom - 0.80 * 2000) < 0.05 * 2000


def test_detached_bar_of_a_five_is_kept():
    pixels = assert_mnist_like(preprocess_pil(compose(ink_mask("5"), "white")))
    rows = np.flatnonzero((pixels > 0.3).any(axis=1))
    top_row = pixels[rows[0] : rows[0] + 3]
    # The bar is the top of the digit, and reaches to the right half.
    assert (top_row[:, 15:] > 0.3).any()


def test_small_specks_far_from_the_digit_are_removed(reference):
    img = compose(ink_mask("4"), "white")
    pen = ImageDraw.Draw(img)
    pen.ellipse((10, 10, 14, 14), fill=0)  # a speck of dust
    pen.ellipse((250, 40, 253, 43), fill=0)
    pixels = assert_mnist_like(preprocess_pil(img))
    assert similarity(pixels, reference["4"]) > 0.95


def test_loop_of_a_zero_stays_open(reference):
    pixels = assert_mnist_like(preprocess_pil(compose(ink_mask("0", width=0.02), "white")))
    assert pixels[12:17, 12:17].max() < 0.2


def test_outlined_glyph_is_filled():
    # An outline font's "L": two thin lines around each stroke.
    img = Image.new("L", (SIDE, SIDE), 255)
    pen = ImageDraw.Draw(img)
    pen.polygon([(100, 50), (140, 50), (140, 190), (200, 190), (200, 230), (100, 230)], outline=0, width=3)
    pixels = assert_mnist_like(preprocess_pil(img))
    # The inside of the vertical stroke is ink, not a gap between two lines.
    col = pixels[:, int(round(centre_of_mass(pixels)[1])) - 3]
    assert (col > 0.5).sum() >= 10


def test_fat_brush_strokes_are_thinned_towards_mnist_width(reference):
    pixels = assert_mnist_like(preprocess_pil(compose(ink_mask("7", width=0.16), "white")))
    # MNIST digits have about 100 units of ink; a fat brush alone would give far more.
    assert pixels.sum() < 150


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(reference, orientation):
    upright = compose(ink_mask("7"), "white").convert("RGB")
    # What the camera stored: the pixels rotated, with a tag saying how to turn them back.
    stored = {3: upright.rotate(180), 6: upright.rotate(90, expand=True), 8: upright.rotate(-90, expand=True)}
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored[orientation], "JPEG", exif=exif.tobytes(), quality=95)
    pixels = assert_mnist_like(preprocess_bytes(data))
    assert similarity(pixels, reference["7"]) > 0.85


def test_first_frame_of_an_animation_is_used(reference):
    frames = [compose(ink_mask("7"), "white").convert("P"), compose(ink_mask("4"), "white").convert("P")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    pixels = assert_mnist_like(preprocess_bytes(buffer.getvalue()))
    assert similarity(pixels, reference["7"]) > similarity(pixels, reference["4"])


def test_mnist_digit_passes_through_almost_unchanged(reference):
    # A digit that is already MNIST-shaped (training data) is not distorted.
    mnist_like = reference["4"]
    img = Image.fromarray((mnist_like * 255).astype(np.uint8))
    pixels = assert_mnist_like(preprocess_pil(img))
    assert similarity(pixels, mnist_like) > 0.97


def test_small_input_is_scaled_up_to_twenty_pixels():
    small = compose(ink_mask("7", side=40), "white")
    assert_mnist_like(preprocess_pil(small))


BLANKS = {
    "white canvas": lambda: Image.new("RGB", (280, 280), (255, 255, 255)),
    "black canvas": lambda: Image.new("L", (280, 280), 0),
    "transparent canvas": lambda: Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
    "transparent with colour underneath": lambda: Image.new("RGBA", (280, 280), (255, 0, 0, 0)),
    "grey": lambda: Image.new("L", (100, 60), 128),
    "one pixel": lambda: Image.new("L", (1, 1), 0),
    "empty paper, uneven light": lambda: compose(Image.new("L", (300, 300), 0), "gradient"),
    "empty paper, shadow and grain": lambda: compose(Image.new("L", (300, 300), 0), "photo"),
    "pixel noise": lambda: Image.fromarray(np.random.default_rng(1).integers(0, 256, (200, 200), dtype=np.uint8)),
    "16-bit flat": lambda: Image.frombytes("I;16", (50, 50), np.full((50, 50), 40000, np.uint16).tobytes()),
}


@pytest.mark.parametrize("name", sorted(BLANKS))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_image_without_ink_is_rejected_with_a_reason(name, fmt):
    img = BLANKS[name]()
    if fmt == "JPEG":
        img = img.convert("RGB") if img.mode not in ("L", "RGB") else img
    result = preprocess_bytes(encode(img, fmt))
    assert result.pixels is None
    assert result.reason and result.reason.startswith("no ink found")


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_input_is_accepted(kind):
    data = encode(compose(ink_mask("7"), "white"), "PNG")
    assert_mnist_like(preprocess_bytes(kind(data)))


def test_to_png_stores_what_the_model_saw(reference):
    pixels = reference["7"]
    img = Image.open(io.BytesIO(to_png(pixels)))
    assert img.format == "PNG" and img.mode == "L" and img.size == (28, 28)
    assert np.abs(np.asarray(img) / 255.0 - pixels).max() <= 0.5 / 255 + 1e-6


def test_stored_png_preprocesses_to_the_same_array(reference):
    # Re-running a stored 28x28 (e.g. a batch retry) gives what the model saw the first time.
    again = preprocess_bytes(to_png(reference["7"])).pixels
    assert similarity(again, reference["7"]) > 0.99
