"""Test images made on the fly: real MNIST test digits rendered the way people upload them."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """30 digits of the MNIST test set (three of each), white ink on black, and their labels."""
    data = np.load(FIXTURES / "mnist_test_sample.npz")
    return data["images"], data["labels"]


def render(digit: np.ndarray, *, style: str = "paper", side: int = 280) -> Image.Image:
    """A 28x28 MNIST digit scaled up like a canvas or a scan: `paper` (dark ink on white),
    `dark` (light ink on black), `transparent` (black ink on a transparent canvas)."""
    ink = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    ink_array = np.asarray(ink)
    if style == "paper":
        return Image.fromarray(255 - ink_array)
    if style == "dark":
        return ink
    if style == "transparent":
        rgba = np.zeros((side, side, 4), dtype=np.uint8)
        rgba[..., 3] = ink_array
        return Image.fromarray(rgba)
    raise ValueError(style)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def digit_png(index: int = 0, *, style: str = "paper") -> tuple[bytes, int]:
    images, labels = mnist_sample()
    return encode(render(images[index], style=style)), int(labels[index])


def blank_png(side: int = 200, color=(255, 255, 255)) -> bytes:
    return encode(Image.new("RGB", (side, side), color))
