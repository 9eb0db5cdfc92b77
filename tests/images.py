"""Test images made on the fly: real MNIST test digits rendered the way people upload them,
digits drawn with strokes, and numbers (several digits side by side)."""

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """30 digits of the MNIST test set (three of each), white ink on black, and their labels."""
    data = np.load(FIXTURES / "mnist_test_sample.npz")
    return data["images"], data["labels"]


def render(digit: np.ndarray, *, style: str = "paper", side: int = 280) -> Image.Image:
    """A 28x28 MNIST digit scaled up like a canvas or a scan: `paper` (dark ink on white),
    `dark` (light ink on black), `transparent` (black ink on a transparent canvas)."""
    return styled(np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)), style)


def styled(ink: np.ndarray, style: str = "paper") -> Image.Image:
    """An 8-bit ink array (ink high) as `render` styles it."""
    if style == "paper":
        return Image.fromarray(255 - ink)
    if style == "dark":
        return Image.fromarray(ink)
    if style == "transparent":
        rgba = np.zeros((*ink.shape, 4), dtype=np.uint8)
        rgba[..., 3] = ink
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


# Digits drawn with strokes, in unit coordinates (x, y in 0..1): polylines, or ("ellipse", box).
STROKE_DIGITS = {
    "7": [[(0.30, 0.25), (0.70, 0.25), (0.45, 0.80)]],
    "4": [[(0.60, 0.80), (0.60, 0.20), (0.30, 0.60), (0.72, 0.60)]],
    # A 5 drawn in two strokes: the top bar does not touch the body.
    "5": [
        [(0.40, 0.22), (0.68, 0.22)],
        [(0.38, 0.30), (0.36, 0.48), (0.55, 0.46), (0.64, 0.58), (0.60, 0.72), (0.45, 0.78), (0.34, 0.72)],
    ],
    "0": [("ellipse", (0.35, 0.22, 0.65, 0.78))],
}


def ink_mask(digit: str | list = "7", side: int = 280, width: float = 0.05) -> Image.Image:
    """A digit of STROKE_DIGITS (or a list of strokes) as an 'L' mask: 255 where the ink is,
    anti-aliased by drawing at 4x."""
    big = side * 4
    mask = Image.new("L", (big, big), 0)
    pen = ImageDraw.Draw(mask)
    w = max(1, int(width * big))
    for stroke in STROKE_DIGITS[digit] if isinstance(digit, str) else digit:
        if stroke[0] == "ellipse":
            x0, y0, x1, y1 = (v * big for v in stroke[1])
            pen.ellipse((x0, y0, x1, y1), outline=255, width=w)
        else:
            points = [(x * big, y * big) for x, y in stroke]
            pen.line(points, fill=255, width=w, joint="curve")
            for x, y in points:  # round caps
                pen.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    return mask.resize((side, side), Image.Resampling.BOX)


def mnist_number(
    indexes: list[int],
    *,
    gap: float = 0.25,
    heights: list[float] | None = None,
    slope: float = 0.0,
    height: int = 120,
    style: str = "paper",
    marks: dict[int, str] | None = None,
) -> Image.Image:
    """MNIST sample digits written side by side, like a number. Each digit is cropped to
    its ink and scaled to `height` times its share in `heights` (default: all 1); they
    stand `gap` times `height` apart (negative: overlapping) on a baseline that rises by
    `slope` per unit of width, with a margin of half the height around them. `marks` puts
    punctuation in the gap after digit k: "dot", "comma" or "dash" (give a gap of 0.4 or so)."""
    digits, _ = mnist_sample()
    heights = heights or [1.0] * len(indexes)
    glyphs = []
    for index, share in zip(indexes, heights, strict=True):
        digit = digits[index]
        rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
        crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
        h = max(1, round(height * share))
        size = (max(1, round(crop.width * h / crop.height)), h)
        glyphs.append(np.asarray(crop.resize(size, Image.Resampling.BICUBIC)))
    margin = height // 2
    step = round(gap * height)
    width = sum(g.shape[1] for g in glyphs) + step * (len(glyphs) - 1)
    rise = round(abs(slope) * width)
    ink = np.zeros((height + rise + 2 * margin, width + 2 * margin), dtype=np.uint8)
    x = margin
    for glyph in glyphs:
        h, w = glyph.shape
        offset = round(slope * (x - margin))  # how far this digit's baseline rose
        bottom = margin + height + (rise if slope > 0 else 0) - offset
        region = ink[bottom - h : bottom, x : x + w]
        np.maximum(region, glyph, out=region)
        x += w + step
        k = next(i for i, g in enumerate(glyphs) if g is glyph)
        if marks and k in marks:
            _mark(ink, marks[k], centre=x - step / 2, baseline=bottom, height=height)
    return styled(ink, style)


def _mark(ink: np.ndarray, kind: str, *, centre: float, baseline: int, height: int) -> None:
    """Punctuation drawn into an ink array: a dot or comma on the baseline, a dash at mid-height."""
    canvas = Image.fromarray(ink)
    pen = ImageDraw.Draw(canvas)
    r = max(2, round(height * 0.06))
    if kind == "dot":
        pen.ellipse((centre - r, baseline - 2 * r, centre + r, baseline), fill=255)
    elif kind == "comma":
        pen.ellipse((centre - r, baseline - 2 * r, centre + r, baseline), fill=255)
        pen.line((centre + r * 0.6, baseline - r, centre - r, baseline + 2.5 * r), fill=255, width=max(2, r))
    elif kind == "dash":
        y = baseline - height / 2
        pen.line((centre - 2.5 * r, y, centre + 2.5 * r, y), fill=255, width=max(2, round(1.2 * r)))
    else:
        raise ValueError(kind)
    ink[...] = np.asarray(canvas)


def stroke_number(digits: list, *, side: int = 140, gap: float = 0.0, width: float = 0.05) -> Image.Image:
    """Digits of STROKE_DIGITS (or lists of strokes) side by side, dark ink on white: each is
    drawn in a square of `side` px (its strokes span the middle part of it), and the squares
    overlap or spread by `gap` times side."""
    step = max(1, round(side * (1 + gap) * 0.5))
    ink = np.zeros((side, step * (len(digits) - 1) + side), dtype=np.uint8)
    for k, digit in enumerate(digits):
        region = ink[:, k * step : k * step + side]
        np.maximum(region, np.asarray(ink_mask(digit, side=side, width=width)), out=region)
    return styled(ink, "paper")


def font_text(text: str, *, size: int = 100, style: str = "paper", slant: float = 0.0, bold: int = 0) -> Image.Image:
    """Text in Pillow's built-in font (no font files needed), with a margin of half the size.
    `slant` shears it to the right by that share of its height (handwriting leans); `bold`
    thickens its strokes by a max filter of that size (a marker)."""
    font = ImageFont.load_default(size)
    left, top, right, bottom = font.getbbox(text)
    margin = size // 2
    canvas = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 0)
    ImageDraw.Draw(canvas).text((margin - left, margin - top), text, fill=255, font=font)
    if slant:
        shear = (1, slant, -slant * canvas.height / 2, 0, 1, 0)
        canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, shear, resample=Image.Resampling.BILINEAR)
    if bold:
        canvas = canvas.filter(ImageFilter.MaxFilter(bold))
    return styled(np.asarray(canvas), style)


def ink_tight(ink: np.ndarray) -> np.ndarray:
    """An 8-bit ink array (ink high) cut to its ink."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > 12), np.flatnonzero(ink.max(axis=0) > 12)
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def font_digit_ink(digit: str, *, size: int = 96) -> np.ndarray:
    """A digit in Pillow's built-in font as an 8-bit ink array, cut to its ink."""
    font = ImageFont.load_default(size)
    canvas = Image.new("L", (2 * size, 2 * size), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), digit, fill=255, font=font)
    return ink_tight(np.asarray(canvas))


def tight_crop(ink: np.ndarray, height: int, *, style: str = "paper", margin: float = 0.0, fmt: str = "PNG") -> bytes:
    """A digit cut to its ink (ink_tight) and scaled to `height` px high, touching the frame on
    every side, or with `margin` times the height of background around it; `paper` (dark ink
    on white) or `dark` (light ink on black), as a PNG canvas or a JPEG photo with grain."""
    crop = Image.fromarray(ink_tight(ink))
    width = max(1, round(crop.width * height / crop.height))
    resample = Image.Resampling.BOX if height < crop.height else Image.Resampling.BICUBIC
    a = np.asarray(crop.resize((width, height), resample), dtype=np.float32) / 255.0
    pad = round(margin * height)
    a = np.pad(a, pad)
    background, ink_level = (0.92, 0.12) if style == "paper" else (0.05, 0.95)
    grey = background + (ink_level - background) * a
    if fmt == "JPEG":
        grey = grey + np.random.default_rng(height).normal(0.0, 0.02, grey.shape)
    image = Image.fromarray(np.round(np.clip(grey, 0.0, 1.0) * 255.0).astype(np.uint8))
    return encode(image, fmt, **({"quality": 85} if fmt == "JPEG" else {}))


# --------------------------------------------------------------------------
# Expensive inputs: small files that decode to many pixels (bench/expensive_inputs.py and
# the bad-input corpus). Built on the fly: no big binaries in the repository.
# --------------------------------------------------------------------------


def big_digit_canvas(size: tuple[int, int], *, style: str = "paper", index: int = 5) -> Image.Image:
    """A digit of the MNIST sample, a third of the short side tall, in the middle of a big
    blank canvas (`style` as for `render`): a few hundred KB once compressed."""
    digits, _ = mnist_sample()
    side = max(28, min(size) // 3)
    digit = render(digits[index], style=style, side=side)
    canvas = Image.new(digit.mode, size, 255 if style == "paper" else 0)
    canvas.paste(digit, ((size[0] - side) // 2, (size[1] - side) // 2))
    return canvas


def bmp_rle8(width: int, height: int, *, run: int = 255, eol_after: int | None = None) -> bytes:
    """A grey RLE8-compressed BMP, all white, written as runs of `run` pixels. With
    `eol_after`, each row ends ("end of line") after that many pixels and Pillow pads the
    rest of the row one byte at a time: a few bytes a row that cost a full row to decode."""
    row = bytearray()
    x = 0
    stop = width if eol_after is None else eol_after
    while x < stop:
        n = min(run, stop - x)
        row += bytes((n, 255 - (x // run) % 2))  # alternate two whites so runs stay runs
        x += n
    row += b"\x00\x00"
    pixels = bytes(row) * height + b"\x00\x01"
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    header = b"BM" + (offset + len(pixels)).to_bytes(4, "little") + b"\x00" * 4 + offset.to_bytes(4, "little")
    info = (
        b"".join(
            v.to_bytes(n, "little")
            for v, n in (
                (40, 4),
                (width, 4),
                (height, 4),
                (1, 2),
                (8, 2),
                (1, 4),
                (len(pixels), 4),
                (2835, 4),
                (2835, 4),
            )
        )
        + (256).to_bytes(4, "little")
        + (0).to_bytes(4, "little")
    )
    return header + info + palette + pixels


def tiff_many_pages(pages: int) -> bytes:
    """A TIFF whose first page is a digit and whose IFD chain holds `pages` - 1 more pages of
    1x1 pixel: counting its pages reads every IFD."""
    first = encode(render(mnist_sample()[0][5], style="paper"), "TIFF")
    head = bytearray(first)
    # Walk to the first IFD's "next IFD" pointer and chain the extra pages after the file.
    ifd = int.from_bytes(head[4:8], "little")
    entries = int.from_bytes(head[ifd : ifd + 2], "little")
    next_at = ifd + 2 + 12 * entries
    tags = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (278, 3, 1, 1)]
    pixel_at = len(head)
    head += b"\xff\x00"  # the 1x1 pages' one pixel (and padding)
    body = bytearray()
    start = len(head)
    size = 2 + 12 * (len(tags) + 2) + 4
    for page in range(pages - 1):
        at = start + page * size
        entry = bytearray((len(tags) + 2).to_bytes(2, "little"))
        for tag, kind, count, value in tags:
            entry += tag.to_bytes(2, "little") + kind.to_bytes(2, "little") + count.to_bytes(4, "little")
            entry += value.to_bytes(4, "little")
        entry += (273).to_bytes(2, "little") + (4).to_bytes(2, "little") + (1).to_bytes(4, "little")
        entry += pixel_at.to_bytes(4, "little")
        entry += (279).to_bytes(2, "little") + (4).to_bytes(2, "little") + (1).to_bytes(4, "little")
        entry += (1).to_bytes(4, "little")
        entry += (at + size if page < pages - 2 else 0).to_bytes(4, "little")
        body += entry
    head[next_at : next_at + 4] = (start if pages > 1 else 0).to_bytes(4, "little")
    return bytes(head + body)


def multipart(data: bytes, boundary: str = "mnistsite-test-boundary") -> tuple[bytes, str]:
    """A raw multipart body with one PNG as `file`, and its Content-Type (for raw-socket clients)."""
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="digit.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"
