"""Synthetic training images: "not a digit" negatives and typed (font) digits.

Every generator draws dark ink on a white Pillow "L" image of about 200x200
pixels, like a photo or an upload, and every image then goes through the
service's own preprocessing (:func:`to_model_input`), so the model trains on
exactly what it will see at prediction time. Plain Python: Pillow and numpy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

logger = logging.getLogger(__name__)

CANVAS = 200
FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

_FONT_DIR = Path("/usr/share/fonts")
# Debian packages: fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf (print),
# fonts-dkg-handwriting, fonts-breip, fonts-femkeklaver, fonts-rufscript,
# fonts-dancingscript, fonts-kaushanscript, fonts-kristi (handwriting and script).
# Missing files are skipped, so any subset works.
PRINT_FONTS = (
    "truetype/dejavu/DejaVuSans.ttf",
    "truetype/dejavu/DejaVuSans-Bold.ttf",
    "truetype/dejavu/DejaVuSans-Oblique.ttf",
    "truetype/dejavu/DejaVuSerif.ttf",
    "truetype/dejavu/DejaVuSerif-Bold.ttf",
    "truetype/dejavu/DejaVuSansMono.ttf",
    "truetype/dejavu/DejaVuSans-ExtraLight.ttf",
    "truetype/liberation/LiberationSans-Regular.ttf",
    "truetype/liberation/LiberationSerif-Italic.ttf",
    "truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "truetype/liberation/LiberationMono-Regular.ttf",
    "truetype/freefont/FreeSans.ttf",
    "truetype/freefont/FreeSerif.ttf",
    "truetype/freefont/FreeMonoBold.ttf",
    "truetype/freefont/FreeSerifBoldItalic.ttf",
)
HANDWRITING_FONTS = (
    "truetype/fifthhorseman/dkg.ttf",
    "truetype/fifthhorseman/dkgBd.ttf",
    "truetype/breip/Breip.ttf",
    "truetype/femkeklaver/femkeklaver.ttf",
    "truetype/rufscript/Rufscript010.ttf",
    "truetype/kristi/Kristi.ttf",
    "opentype/dancingscript/DancingScript-Regular.otf",
    "opentype/dancingscript/DancingScript-Bold.otf",
    "opentype/kaushanscript/KaushanScript-Regular.otf",
)
# Kristi's thin letters are often a single stroke that reads as a 1.
LETTER_HANDWRITING_FONTS = tuple(f for f in HANDWRITING_FONTS if "kristi" not in f)
SYMBOL_FONTS = (
    "truetype/dejavu/DejaVuSans.ttf",
    "truetype/dejavu/DejaVuSans-Bold.ttf",
    "truetype/dejavu/DejaVuSerif.ttf",
    "truetype/freefont/FreeSerif.ttf",
    "truetype/freefont/FreeSans.ttf",
)

# Letters that do not look like digits (no O/o/Q/D ~ 0, l/I/i/j/J/T ~ 1/7,
# S/s ~ 5, Z/z ~ 2, B ~ 8, b/G ~ 6, g/q/y ~ 9, and f/r/t, single strokes in script fonts).
LETTERS = "ACEFHKLMNPRUVWXYacdehkmnpuvwx"
# Symbols, again without digit look-alikes (/, \, |, !, (, ), $, &, §, £).
SYMBOLS = "+-×÷=≠?#@%*<>~^→←↑↓↔⇒∞πΣΩλ√✓✗★♥♦♣"


def to_model_input(img: Image.Image) -> np.ndarray | None:
    """The service's preprocessing: a 28x28 float32 array in [0, 1], or None if rejected."""
    from vision.preprocess import preprocess_pil

    result = preprocess_pil(img)
    return None if result.pixels is None else np.asarray(result.pixels, dtype=np.float32)


@cache
def _font_path_ok(path: str) -> bool:
    return Path(path).is_file()


def available_fonts(names: tuple[str, ...]) -> list[str]:
    return [str(_FONT_DIR / n) for n in names if _font_path_ok(str(_FONT_DIR / n))]


@cache
def _has_glyph(font_path: str, char: str) -> bool:
    """False when the font would draw its 'missing glyph' box (or nothing) for ``char``."""
    font = ImageFont.truetype(font_path, 48)
    mask = font.getmask(char)
    if mask.size[0] == 0 or mask.size[1] == 0:
        return False
    missing = font.getmask("\U000f0000")  # a private-use code point no font here defines
    return bytes(mask) != bytes(missing) or mask.size != missing.size


def _canvas(rng: np.random.Generator) -> tuple[Image.Image, int]:
    paper = int(rng.integers(225, 256))
    ink = int(rng.integers(0, 70))
    return Image.new("L", (CANVAS, CANVAS), paper), ink


def _distort(img: Image.Image, rng: np.random.Generator, *, rotate: float, shear: float) -> Image.Image:
    paper = int(np.median(np.asarray(img)[:4, :]))
    s = float(rng.uniform(-shear, shear))
    img = img.transform(
        img.size, Image.Transform.AFFINE, (1, s, -s * CANVAS / 2, 0, 1, 0), Image.Resampling.BILINEAR, fillcolor=paper
    )
    img = img.rotate(float(rng.uniform(-rotate, rotate)), Image.Resampling.BILINEAR, fillcolor=paper)
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    return img


def render_char(
    char: str, font_path: str, rng: np.random.Generator, *, rotate: float = 12.0, shear: float = 0.25
) -> Image.Image:
    """One character, random size, stroke width, slant and rotation."""
    img, ink = _canvas(rng)
    size = int(rng.integers(90, 150))
    font = ImageFont.truetype(font_path, size)
    stroke = int(rng.choice([0, 0, 1, 2, 4, 6]))
    centre = (CANVAS / 2 + rng.uniform(-15, 15), CANVAS / 2 + rng.uniform(-15, 15))
    ImageDraw.Draw(img).text(centre, char, fill=ink, font=font, anchor="mm", stroke_width=stroke, stroke_fill=ink)
    return _distort(img, rng, rotate=rotate, shear=shear)


def font_digit(rng: np.random.Generator) -> tuple[Image.Image, int]:
    """A typed or handwriting-font digit; label is the digit."""
    fonts = available_fonts(PRINT_FONTS) + 2 * available_fonts(HANDWRITING_FONTS)
    digit = int(rng.integers(0, 10))
    usable = [f for f in fonts if _has_glyph(f, str(digit))]
    return render_char(str(digit), usable[int(rng.integers(len(usable)))], rng), digit


def letter(rng: np.random.Generator) -> Image.Image:
    fonts = available_fonts(PRINT_FONTS) + available_fonts(LETTER_HANDWRITING_FONTS)
    char = LETTERS[int(rng.integers(len(LETTERS)))]
    usable = [f for f in fonts if _has_glyph(f, char)]
    return render_char(char, usable[int(rng.integers(len(usable)))], rng)


def symbol(rng: np.random.Generator) -> Image.Image:
    fonts = available_fonts(SYMBOL_FONTS)
    char = SYMBOLS[int(rng.integers(len(SYMBOLS)))]
    usable = [f for f in fonts if _has_glyph(f, char)] or fonts
    return render_char(char, usable[int(rng.integers(len(usable)))], rng, rotate=20.0)


def _bezier(points: np.ndarray, steps: int = 40) -> np.ndarray:
    """Points along a Catmull-Rom-like smooth curve through ``points``."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    out = []
    for i in range(len(points) - 2):
        p0 = (points[i] + points[i + 1]) / 2
        p1 = points[i + 1]
        p2 = (points[i + 1] + points[i + 2]) / 2
        out.append((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2)
    return np.concatenate(out)


def scribble(rng: np.random.Generator) -> Image.Image:
    """Random strokes: tangled curves, zigzags, spirals or cross-hatching."""
    img, ink = _canvas(rng)
    draw = ImageDraw.Draw(img)
    width = int(rng.integers(3, 16))
    kind = rng.choice(["curve", "zigzag", "spiral", "hatch"])
    if kind == "curve":
        points = rng.uniform(20, CANVAS - 20, size=(int(rng.integers(8, 14)), 2))
        draw.line([tuple(p) for p in _bezier(points)], fill=ink, width=width, joint="curve")
    elif kind == "zigzag":
        n = int(rng.integers(6, 12))
        xs = np.linspace(20, CANVAS - 20, n) + rng.uniform(-8, 8, n)
        ys = np.where(np.arange(n) % 2 == 0, rng.uniform(20, 70, n), rng.uniform(130, 180, n))
        points = np.stack([xs, ys], axis=1)
        if rng.random() < 0.5:
            points = points[:, ::-1]
        draw.line([tuple(p) for p in points], fill=ink, width=width, joint="curve")
    elif kind == "spiral":
        turns = rng.uniform(2.0, 4.5)
        t = np.linspace(0, turns * 2 * math.pi, 300)
        r = np.linspace(rng.uniform(2, 10), rng.uniform(60, 90), t.size)
        phase = rng.uniform(0, 2 * math.pi)
        squash = rng.uniform(0.6, 1.0)
        points = np.stack([CANVAS / 2 + r * np.cos(t + phase), CANVAS / 2 + squash * r * np.sin(t + phase)], axis=1)
        draw.line([tuple(p) for p in points], fill=ink, width=max(2, width // 2), joint="curve")
    else:
        for angle in rng.uniform(0, math.pi, size=int(rng.integers(2, 4))):
            d = np.array([math.cos(angle), math.sin(angle)])
            normal = np.array([-d[1], d[0]])
            for offset in np.linspace(-70, 70, int(rng.integers(4, 9))):
                c = np.array([CANVAS / 2, CANVAS / 2]) + offset * normal
                draw.line([tuple(c - 80 * d), tuple(c + 80 * d)], fill=ink, width=max(2, width // 2))
    return _distort(img, rng, rotate=30.0, shear=0.2)


def blobs(rng: np.random.Generator) -> Image.Image:
    """Filled shapes or thresholded smooth noise: ink that is no stroke at all."""
    img, ink = _canvas(rng)
    if rng.random() < 0.5:
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(2, 7))):
            x, y = rng.uniform(20, 180, 2)
            rx, ry = rng.uniform(8, 45, 2)
            if rng.random() < 0.5:
                draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=ink)
            else:
                n = int(rng.integers(3, 8))
                angles = np.sort(rng.uniform(0, 2 * math.pi, n))
                draw.polygon([(x + rx * math.cos(a), y + ry * math.sin(a)) for a in angles], fill=ink)
        return _distort(img, rng, rotate=30.0, shear=0.2)
    noise = rng.random((25, 25)).astype(np.float32)
    field = np.asarray(Image.fromarray(noise).resize((CANVAS, CANVAS), Image.Resampling.BICUBIC))
    mask = field > np.quantile(field, rng.uniform(0.6, 0.85))
    paper = np.asarray(img, dtype=np.uint8).copy()
    paper[mask] = ink
    return Image.fromarray(paper)


def fashion_mnist_path() -> Path | None:
    """Fashion-MNIST's training images file, or None if it is not installed."""
    for folder in FASHION_MNIST_DIRS:
        for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"):
            if (folder / name).is_file():
                return folder / name
    return None


def fashion_mnist_images(limit: int, rng: np.random.Generator) -> list[Image.Image]:
    """Random Fashion-MNIST training images as dark-on-white canvases; [] if not installed."""
    from vision.idx import read_idx

    path = fashion_mnist_path()
    if path is None:
        logger.warning(
            "Fashion-MNIST not found in %s (apt-get install dataset-fashion-mnist); skipping it",
            ", ".join(map(str, FASHION_MNIST_DIRS)),
        )
        return []
    try:
        images = read_idx(path)
    except (OSError, ValueError) as exc:
        logger.warning("Fashion-MNIST unreadable (%s); skipping it", exc)
        return []
    picked = rng.choice(len(images), size=min(limit, len(images)), replace=False)
    out = []
    for i in picked:
        small = Image.fromarray(255 - images[i])
        big = small.resize((140, 140), Image.Resampling.BILINEAR)
        canvas = Image.new("L", (CANVAS, CANVAS), 255)
        canvas.paste(big, (30, 30))
        out.append(canvas)
    return out


NEGATIVE_GENERATORS: dict[str, Callable[[np.random.Generator], Image.Image]] = {
    "letters": letter,
    "symbols": symbol,
    "scribbles": scribble,
    "blobs": blobs,
}
