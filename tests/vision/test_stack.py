"""preprocess_images (a batch chunk's stack) must give exactly what preprocess_pil gives."""

import numpy as np
from PIL import Image, ImageFilter

from tests.images import mnist_number, mnist_sample, render
from vision.decode import ImageDecodeError
from vision.preprocess import preprocess_pil
from vision.stack import preprocess_images


def small_grey_images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    digits, _ = mnist_sample()
    images = [Image.fromarray(digit) for digit in digits]  # white on black, like MNIST
    images += [Image.fromarray(255 - digit) for digit in digits[:10]]  # dark ink on white
    images += [render(digit, style="paper", side=64).convert("L") for digit in digits[:10]]
    images += [Image.fromarray(digit).filter(ImageFilter.MaxFilter(3)) for digit in digits[:5]]  # fat strokes
    images += [Image.fromarray(np.full((28, 28), value, np.uint8)) for value in (0, 128, 255)]  # blank
    images += [Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)) for _ in range(5)]  # noise
    images += [Image.fromarray(((rng.random((28, 28)) < 0.01) * 255).astype(np.uint8)) for _ in range(5)]  # specks
    two = np.zeros((28, 28), np.uint8)
    two[4:24, 5:8], two[4:24, 20:23], two[0:2, 26:28] = 255, 200, 255  # two strokes and a mark on the border
    images.append(Image.fromarray(two))
    gradient = np.clip(np.linspace(60, 240, 40)[None, :] + 0 * np.arange(40)[:, None], 0, 255).astype(np.uint8)
    gradient[10:30, 18:22] = 0  # a stroke on a shaded background: needs background correction
    images.append(Image.fromarray(gradient))
    return images


def assert_same(one, many):
    assert (one.reason, one.polarity, one.bbox, one.background_corrected) == (
        many.reason,
        many.polarity,
        many.bbox,
        many.background_corrected,
    )
    if one.pixels is None:
        assert many.pixels is None
    else:
        np.testing.assert_array_equal(one.pixels, many.pixels)


def test_a_stack_of_small_grey_images_gives_exactly_the_one_by_one_results():
    images = small_grey_images()
    expected = [preprocess_pil(image) for image in images]
    results = preprocess_images(images)
    assert len(results) == len(images)
    for one, many in zip(expected, results, strict=True):
        assert_same(one, many)
    reasons = {result.reason for result in results}
    assert None in reasons and "no ink found: the image is blank" in reasons  # both kinds were exercised
    assert any(result.background_corrected for result in results)


def test_mixed_sizes_and_modes_keep_their_order_and_results():
    digits, _ = mnist_sample()
    images = [
        Image.fromarray(digits[0]),
        render(digits[1], style="transparent", side=120),  # RGBA canvas: one by one
        Image.fromarray(digits[2]).resize((40, 40)),  # another size: its own stack
        render(digits[3], style="dark", side=300).convert("L"),  # too big for a stack
        Image.fromarray(digits[4]),
    ]
    for one, many in zip([preprocess_pil(image) for image in images], preprocess_images(images), strict=True):
        assert_same(one, many)


def test_numbers_in_a_stack_are_rejected_exactly_as_one_by_one():
    # Numbers and single digits of one size (a batch job's small PNGs): one stack.
    cases = [([4, 1], 0.25), ([4, 1], 1.2), ([1, 4], -0.05), ([0, 1, 2], 0.1), ([14, 14], 0.6), ([4], 0), ([8], 0)]
    images = []
    for indexes, gap in cases:
        for style in ("paper", "dark"):
            canvas = Image.new("L", (96, 48), 255 if style == "paper" else 0)
            canvas.paste(mnist_number(indexes, gap=gap, height=24, style=style).convert("L"))
            images.append(canvas)
    expected = [preprocess_pil(image) for image in images]
    results = preprocess_images(images)
    for one, many in zip(expected, results, strict=True):
        assert_same(one, many)
    several = [bool(result.reason and result.reason.startswith("several digits")) for result in results]
    assert several == [True] * 10 + [False] * 4


def test_a_damaged_image_gets_its_error_in_the_list_and_the_others_their_results():
    class Damaged:
        mode, info, size = "RGB", {}, (50, 50)

    digits, _ = mnist_sample()
    results = preprocess_images([Image.fromarray(digits[0]), Damaged(), Image.fromarray(digits[1])])
    assert isinstance(results[1], ImageDecodeError)
    assert results[0].pixels is not None and results[2].pixels is not None
