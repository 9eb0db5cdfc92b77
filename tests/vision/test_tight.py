"""Tight crops and low resolution: a digit cut to its ink (touching the frame on every side)
or with a thin margin, 8-64 px high, dark ink on paper or light ink on a dark canvas, is
read like any other. Fixtures: the MNIST sample digits and the built-in font's digits
(tests.images.tight_crop), read with the shipped model."""

import numpy as np
import pytest
from scipy import ndimage

from tests.images import font_digit_ink, ink_mask, mnist_sample, tight_crop
from vision.decode import decode_image
from vision.infer import DigitClassifier, decide_rows
from vision.preprocess import preprocess_bytes, preprocess_pil
from vision.stack import preprocess_images

POLARITY = {"paper": "dark_on_light", "dark": "light_on_dark"}


@pytest.fixture(scope="module")
def inks():
    digits, labels = mnist_sample()
    fonts = [(font_digit_ink(str(d)), d) for d in range(10)]
    return fonts + list(zip(digits, labels.tolist(), strict=True))


@pytest.fixture(scope="module")
def classifier():
    from django.conf import settings

    return DigitClassifier(settings.DEFAULT_MODEL_DIR / "model.tflite")


def read(inks, classifier, height, style, margin=0.0, fmt="PNG"):
    results = [preprocess_bytes(tight_crop(ink, height, style=style, margin=margin, fmt=fmt)) for ink, _ in inks]
    kept = [i for i, r in enumerate(results) if not r.rejected]
    decisions = decide_rows(classifier.classify(np.stack([results[i].pixels for i in kept])))
    right = sum(d.digit == inks[i][1] for i, d in zip(kept, decisions, strict=True))
    return results, right


# (height, style, margin, fmt, least read right of 40)
CASES = [
    (h, style, margin, "PNG", least)
    for h, least in ((8, 28), (10, 33), (12, 36), (16, 38), (24, 38), (40, 38), (64, 38))
    for style in ("paper", "dark")
    for margin in (0.0, 0.15)
] + [(h, style, 0.0, "JPEG", 30) for h in (12, 24, 64) for style in ("paper", "dark")]


@pytest.mark.parametrize(("height", "style", "margin", "fmt", "least"), CASES)
def test_tight_and_small_digits_are_read(inks, classifier, height, style, margin, fmt, least):
    results, right = read(inks, classifier, height, style, margin, fmt)
    assert [r.reason for r in results if r.rejected] == []
    assert right >= least
    if height >= 16:
        # Ink can outnumber the background of a tight crop; the frame tells which side is which.
        assert {r.polarity for r in results} == {POLARITY[style]}


@pytest.mark.parametrize("height", [12, 24, 64])
@pytest.mark.parametrize("style", ["paper", "dark"])
def test_a_flat_canvas_is_not_corrected_for_lighting_however_tight(inks, height, style):
    # The soft edges of thick strokes outnumber a tight crop's background; correcting the
    # "texture" they make ate the middle of the strokes (hollow digits, read as 0 or 8).
    for ink, _ in inks:
        result = preprocess_bytes(tight_crop(ink, height, style=style))
        assert not result.background_corrected


@pytest.mark.parametrize("style", ["paper", "dark"])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_thick_strokes_stay_solid_in_a_tight_crop(style, fmt):
    # A 7 in a fat marker: more ink than background once cut with a thin margin.
    ink = np.asarray(ink_mask("7", side=280, width=0.16))
    result = preprocess_bytes(tight_crop(ink, 30, style=style, margin=0.03, fmt=fmt))
    assert result.polarity == POLARITY[style]
    _, regions = ndimage.label(result.pixels < 0.5)
    assert regions == 1  # a 7 encloses nothing: hollow strokes (their outlines) would
    assert result.pixels.max() > 0.95


def test_upscaled_edges_are_as_steep_as_mnists(inks):
    ink, _ = inks[12]  # an MNIST digit 8 px high: each input pixel becomes 2.5 output pixels
    pixels = preprocess_bytes(tight_crop(ink, 8, style="dark")).pixels
    inked = pixels[pixels > 0.02]
    assert (inked > 0.9).mean() > 0.3  # a solid core, not a blur


@pytest.mark.parametrize("style", ["paper", "dark"])
def test_the_stacked_path_reads_tight_crops_like_the_one_image_path(inks, style):
    images = [decode_image(tight_crop(ink, 16, style=style)).resize((12, 16)) for ink, _ in inks]
    stacked = preprocess_images(images)
    for image, result in zip(images, stacked, strict=True):
        single = preprocess_pil(image)
        assert result.polarity == single.polarity == POLARITY[style]
        np.testing.assert_array_equal(result.pixels, single.pixels)
