"""An image of several digits side by side (a number) is rejected by the preprocessing, with a
reason that says so; one digit in pieces (strokes that do not touch, specks) is not."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from recognizer.models import Prediction
from tests.images import encode, font_text, ink_mask, mnist_number, mnist_sample, render, styled
from vision.preprocess import preprocess_bytes, preprocess_pil

# MNIST sample indexes (see tests.images.mnist_sample): 7 2 1 0 4 1 4 9 5 9 ...
FOUR, TWO, ONE, ZERO, SEVEN, NINE, THREE = 4, 1, 14, 3, 0, 7, 17


def several(count: int) -> str:
    return f"several digits found ({count}): /api/predict reads one digit"


NUMBERS = {
    "42": (lambda: mnist_number([FOUR, TWO]), 2),
    "42, nearly touching": (lambda: mnist_number([FOUR, TWO], gap=0.02), 2),
    "24, overlapping a little (the ink does not touch)": (lambda: mnist_number([TWO, FOUR], gap=-0.08), 2),
    "74, the 4 tucked under the bar of the 7": (lambda: mnist_number([SEVEN, FOUR], gap=-0.05), 2),
    "42, far apart (the 4 was dropped as a far-away mark)": (lambda: mnist_number([FOUR, TWO], gap=1.5), 2),
    "42, the 2 written smaller": (lambda: mnist_number([FOUR, TWO], heights=[1.0, 0.7]), 2),
    "42, light ink on a dark canvas": (lambda: mnist_number([FOUR, TWO], style="dark"), 2),
    "99 on a transparent canvas": (lambda: mnist_number([NINE, NINE], style="transparent"), 2),
    # Two 1s closer than this span less than their height: taken for one digit in pieces.
    "11, a clear gap apart": (lambda: mnist_number([ONE, ONE], gap=0.6), 2),
    "7210 on a slope": (lambda: mnist_number([SEVEN, TWO, ONE, ZERO], gap=0.1, slope=-0.15), 4),
    "a number written large": (lambda: mnist_number([THREE, ZERO, SEVEN], height=400, gap=0.2), 3),
    "42 in a font": (lambda: font_text("42"), 2),
    "2026 in a font, light on dark": (lambda: font_text("2026", style="dark"), 4),
}


@pytest.mark.parametrize(("make", "count"), NUMBERS.values(), ids=NUMBERS.keys())
def test_several_digits_side_by_side_are_rejected_with_the_reason(make, count):
    result = preprocess_bytes(encode(make()))
    assert result.rejected
    assert result.reason == several(count)


def paper(mask: Image.Image) -> Image.Image:
    return styled(np.asarray(mask), "paper")


def with_marks(img: Image.Image, *, dots=(), lines=()) -> Image.Image:
    """Dark dots (ellipses) and lines (rectangles) drawn over an image, boxes in pixels."""
    img = img.copy()
    pen = ImageDraw.Draw(img)
    for box in dots:
        pen.ellipse(box, fill=0)
    for box in lines:
        pen.rectangle(box, fill=0)
    return img


def broken_zero() -> Image.Image:
    """A 0 whose stroke is broken at the top and the bottom: two arcs side by side."""
    ink = np.asarray(ink_mask([("ellipse", (0.25, 0.22, 0.75, 0.78))])).copy()
    ink[:100, 130:150] = 0
    ink[180:, 130:150] = 0
    return styled(ink, "paper")


ONE_DIGIT = {
    "a 5 whose bar is detached": lambda: paper(ink_mask("5")),
    "a 4 in two strokes": lambda: paper(ink_mask([[(0.45, 0.2), (0.3, 0.6), (0.72, 0.6)], [(0.6, 0.3), (0.6, 0.8)]])),
    "a 4 whose bar stops short of the stem": lambda: paper(
        ink_mask([[(0.45, 0.2), (0.3, 0.6), (0.55, 0.6)], [(0.62, 0.2), (0.62, 0.8)]])
    ),
    "a 7 with a detached crossbar": lambda: paper(
        ink_mask([[(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)], [(0.36, 0.52), (0.52, 0.52)]])
    ),
    "a 1 with a detached flag": lambda: paper(ink_mask([[(0.38, 0.32), (0.47, 0.22)], [(0.52, 0.2), (0.52, 0.8)]])),
    "a 0 broken at the top and the bottom": broken_zero,
    "an MNIST 3 with specks around it": lambda: with_marks(
        render(mnist_sample()[0][THREE]),
        dots=[(20, 130, 26, 136), (250, 140, 256, 146), (240, 30, 244, 34), (140, 262, 146, 268), (30, 250, 33, 253)],
    ),
    "an MNIST 7 and a full stop": lambda: with_marks(render(mnist_sample()[0][SEVEN]), dots=[(236, 226, 264, 254)]),
    "an MNIST 4 beside a margin line": lambda: with_marks(render(mnist_sample()[0][FOUR]), lines=[(20, 0, 23, 279)]),
    "an MNIST 4 with a scan's dark edge": lambda: with_marks(
        render(mnist_sample()[0][FOUR]), lines=[(272, 0, 279, 279)]
    ),
    "an i in a font (a dot above a stroke)": lambda: font_text("i"),
    "a 7 in a font": lambda: font_text("7"),
}


@pytest.mark.parametrize("make", ONE_DIGIT.values(), ids=ONE_DIGIT.keys())
def test_one_digit_in_pieces_is_not_taken_for_several(make):
    result = preprocess_pil(make())
    assert result.reason is None


@pytest.mark.django_db
def test_the_api_rejects_a_number_with_the_reason(client, served_default_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    # 4 and 2 far apart: the 4 used to be dropped as a far-away mark and the 2 read alone.
    upload = SimpleUploadedFile("42.png", encode(mnist_number([FOUR, TWO], gap=1.5)), content_type="image/png")
    response = client.post("/api/predict", {"file": upload})
    body = response.json()
    assert response.status_code == 200, body
    assert body["rejected"] is True and body["prediction"] is None
    assert body["reason"] == several(2)
    assert Prediction.objects.get(pk=body["id"]).rejected
