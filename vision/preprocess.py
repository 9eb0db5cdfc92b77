"""One decoded image -> a 28x28 MNIST-style array, or a rejection with a reason.

This is the one preprocessing path of the project: the API, the batch worker,
training-data generation and evaluation all call it. Plain Python (Pillow,
numpy, scipy.ndimage); no Django, no TensorFlow.

The output follows the recipe the MNIST images were made with: a white digit
on black, cropped to its ink, scaled so its longest side is 20 px (aspect ratio
kept, anti-aliased), placed in a 28x28 field so that its centre of mass is at
the centre.

Pipeline of :func:`preprocess_pil`:

1. Grey levels. Any mode becomes a float image in [0, 1]. When the image has
   meaningful transparency and is mostly transparent (a drawing canvas), the
   alpha channel *is* the ink, whatever the colour of the strokes. Otherwise
   transparent areas are filled with the colour of the opaque content.
2. Polarity: the background is the majority; ink is on whichever side of it
   reaches further (dark ink on paper, or light ink on a dark canvas). A tight
   crop of thick strokes can hold more ink than background: where the image's
   frame disagrees with the majority, the frame tells. The image is turned so
   that ink is high.
3. Background: clean synthetic images (flat background, once the soft edges of
   the ink are set aside) and crops under 32 px skip this step. Photos
   and scans get a background estimate (a low-percentile filter on a small
   copy, smoothed and scaled back up) that is subtracted, and for dark ink on
   paper divided by the paper brightness, which removes shadows and gradients.
4. Ink: Otsu's threshold separates ink from background; grey levels are kept
   soft between a noise floor and the typical ink level.
5. Clean-up: connected components; specks, components far from the digit and
   small marks on the image border are dropped, the parts of the digit (the
   bar of a 5, broken strokes) are kept. Several digits side by side (a
   number) are rejected: this path reads one digit.
6. Crop to the ink. Pinholes are filled, and so is the inside of outlined
   ("hollow") glyphs, while the loops of 0, 6, 8, 9 stay open. Strokes far
   fatter (fat brush) or thinner (fine pen on a big scan) than MNIST's are
   eroded or dilated toward MNIST's width.
7. Scale the longest side to 20 px (a small crop bicubic, its edges steepened
   back to MNIST's), paste into 28x28 with the centre of mass at the centre.

Cost: about 0.3 ms for a 28x28 PNG (no background correction: a clean image
skips it), 5-25 ms for a phone photo; large JPEGs are decoded at reduced size.

An image with no usable ink (blank canvas, empty paper, pure noise), or with
several digits side by side, is rejected with a reason; whether ink is a digit
at all is the model's decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from vision.decode import DECODE_SCALE_KEY, WORK_MAX_SIDE, ImageDecodeError, decode_image, work_mode

__all__ = [
    "Preprocessed",
    "preprocess_bytes",
    "preprocess_decoded",
    "preprocess_pil",
]

OUTPUT_SIZE = 28
DIGIT_SIZE = 20
# Centre of mass of the MNIST training digits, in pixel-index coordinates
# (row, column); the output is shifted so that its centre of mass lands here.
MNIST_CENTRE = (14.0, 14.0)

# The background is estimated on a copy about this small (longest side).
BACKGROUND_SIDE = 48
# Images narrower than this (a tight crop, a thumbnail) get no background correction.
BACKGROUND_MIN_SIDE = 32

# Strokes wider than this (in output pixels) are thinned to about the target.
THIN_ABOVE_WIDTH = 4.5
THIN_TARGET_WIDTH = 3.0
# Strokes narrower than this are thickened to about the target.
THICKEN_BELOW_WIDTH = 1.5
THICKEN_TARGET_WIDTH = 2.0
# Thinning (and what follows) works on the crop reduced to this longest side.
THIN_SIDE = 8 * DIGIT_SIZE

# A background is "clean" (no correction needed) when this fraction of the
# pixels below Otsu's threshold lie within CLEAN_TOLERANCE/255 of its mode.
CLEAN_FRACTION = 0.8
CLEAN_TOLERANCE = 3

# Upscaled crops get their soft edges steepened by up to this factor (see _fit_mnist).
MAX_EDGE_GAIN = 2.0

# Soft edges reach about this share of the image's longest side from the ink (MNIST's span
# 1-2 of its 28 px); at least this many pixels beyond them tell whether the background is flat.
EDGE_SHARE = 0.07
MIN_FLAT_PIXELS = 16

# Polarity of tight crops (see _dark_on_light): a frame this close to the middle of the
# grey range (a share of it) says nothing; ink covering more than this share of its box is
# a solid shape, not strokes.
FRAME_MARGIN = 0.15
MAX_INK_SHARE = 0.8

# Contrast (on a 0..1 scale) below which an image is considered to have no ink.
MIN_INK_CONTRAST = 0.12
# A 3x3 box blur keeps most of the variation of a real image but divides that
# of pixel noise by ~3; below this ratio the image is treated as pure noise.
MIN_NOISE_SMOOTHNESS = 0.55

# Several digits side by side (see _digits_side_by_side); lengths are shares of the
# tallest column's height. Components overlapping in x by more than this share of the
# narrower one's width are one column (the bar of a 5, the strokes of a 4).
COLUMN_OVERLAP = 0.3
# A column this tall (or taller) may be a digit; shorter ones are specks, dots, flags.
DIGIT_MIN_HEIGHT = 0.6
# Two columns are two digits when together they span at least this width; narrower
# pairs are one digit in pieces (a broken 0, a 4 whose bar stops short). The price:
# two 1s written closer than about their height count as one digit.
DIGITS_MIN_SPAN = 1.0


@dataclass(frozen=True)
class Preprocessed:
    """Result of preprocessing one image.

    ``pixels`` is a (28, 28) float32 array in [0, 1] with ink high (a white
    digit on black, like MNIST), or ``None`` when the image was rejected, in
    which case ``reason`` says why.
    """

    pixels: np.ndarray | None
    reason: str | None = None
    #: "dark_on_light", "light_on_dark" or "alpha" (ink read from transparency).
    polarity: str | None = None
    #: Ink bounding box in the (EXIF-rotated) input image's pixels: (left, top, right, bottom).
    bbox: tuple[int, int, int, int] | None = None
    #: Whether illumination/background correction was applied.
    background_corrected: bool = False

    @property
    def rejected(self) -> bool:
        return self.pixels is None


def preprocess_bytes(data: bytes) -> Preprocessed:
    """Decode and preprocess; raises :class:`ImageDecodeError` for bad files."""
    return preprocess_decoded(decode_image(data))


def preprocess_decoded(img: Image.Image) -> Preprocessed:
    """preprocess_pil for an image from decode_image; raises :class:`ImageDecodeError`
    when the file turns out to be damaged."""
    try:
        return preprocess_pil(img)
    except ImageDecodeError:
        raise
    except Exception as exc:  # a decoder that was lazy about a damaged file
        raise ImageDecodeError("The image file is damaged and cannot be read.") from exc


# --------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------


def preprocess_pil(img: Image.Image) -> Preprocessed:
    """Turn a Pillow image into an MNIST-style 28x28 array, or a rejection."""
    found = find_ink(img)
    if isinstance(found, Preprocessed):
        return found
    keep, digits = _digit_mask(found.ink)
    if digits > 1:
        return _reject(_several_digits_reason(digits), found.polarity)
    return _finish(found.ink, keep, polarity=found.polarity, scale=found.scale, corrected=found.corrected)


@dataclass(frozen=True)
class Ink:
    """The ink of an image (steps 1-4): float32 in [0, 1], ink high, in working pixels
    (input pixels divided by `scale`)."""

    ink: np.ndarray
    polarity: str
    scale: float
    corrected: bool


def find_ink(img: Image.Image) -> Ink | Preprocessed:
    """Grey levels, polarity, background and ink of an image (steps 1-4), or the
    rejection when there is no usable ink. Shared by the one-digit path and the
    number reader (segmentation)."""
    grey, alpha_ink, scale = _to_grey(img)
    scale *= float(img.info.get(DECODE_SCALE_KEY, 1.0))
    corrected = False
    # Grey statistics work on a 256-bin histogram; for small images the
    # extremes come from it too (no sort).
    hist = _hist(_levels(grey))
    if alpha_ink:
        polarity = "alpha"  # grey is the alpha: ink-high
        ink = _soft_ink(grey, hist, _otsu_bin(hist), clean=True)
    else:
        reduced = _reduced(grey)
        lo, med, hi = _extremes(reduced) if reduced is not grey else _hist_extremes(hist)
        if max(med - lo, hi - med) < MIN_INK_CONTRAST:
            return _reject("no ink found: the image is blank", None)
        dark_on_light = _dark_on_light(grey, lo, med, hi)
        polarity = "dark_on_light" if dark_on_light else "light_on_dark"
        x = 1.0 - grey if dark_on_light else grey  # ink high
        if dark_on_light:
            hist = hist[::-1]
        otsu = _otsu_bin(hist)
        textured = not _is_clean(hist, otsu) and not _is_flat_beside_ink(x, otsu)
        if textured:
            if _is_noise(reduced):
                return _reject("no ink found: the image is noise", polarity)
            # Lighting hardly varies across a crop this small, and the background estimate
            # would take the strokes for it: the noise floor alone separates the ink.
            if min(x.shape) >= BACKGROUND_MIN_SIDE:
                x = _remove_background(x, dark_on_light)
                hist = _hist(_levels(x))
                otsu = _otsu_bin(hist)
                corrected = True
        ink = _soft_ink(x, hist, otsu, clean=not textured)
    if ink is None:
        return _reject("no ink found: the image is blank", polarity)
    return Ink(ink, polarity, scale, corrected)


def _finish(
    ink: np.ndarray, keep: np.ndarray | None, *, polarity: str, scale: float = 1.0, corrected: bool = False
) -> Preprocessed:
    """From the ink and the mask of the digit's pixels to the 28x28 result."""
    if keep is None:
        return _reject("no ink found: only specks, no strokes", polarity)
    rows = np.flatnonzero(keep.any(axis=1))
    cols = np.flatnonzero(keep.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = np.where(keep[top:bottom, left:right], ink[top:bottom, left:right], 0.0).astype(np.float32)
    return _finish_crop(crop, (left, top, right, bottom), polarity=polarity, scale=scale, corrected=corrected)


def _finish_crop(
    crop: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    polarity: str,
    scale: float = 1.0,
    corrected: bool = False,
    stroke_width: float | None = None,
) -> Preprocessed:
    """From the digit's ink cropped to its box (left, top, right, bottom) to the 28x28
    result. stroke_width: the crop's _stroke_width, where the caller measured it already."""
    adjusted = _shrink(_fill_outline(crop), THIN_SIDE)
    # A width measured on the crop no longer holds once filling or shrinking changed it.
    adjusted = _adjust_stroke_width(adjusted, stroke_width=stroke_width if adjusted is crop else None)
    pixels = _fit_mnist(adjusted)
    if pixels is None:
        return _reject("no ink found: the image is blank", polarity)
    left, top, right, bottom = box
    bbox = (
        int(left * scale),
        int(top * scale),
        int(np.ceil(right * scale)),
        int(np.ceil(bottom * scale)),
    )
    return Preprocessed(
        pixels=pixels,
        reason=None,
        polarity=polarity,
        bbox=bbox,
        background_corrected=corrected,
    )


def _reject(reason: str, polarity: str | None) -> Preprocessed:
    return Preprocessed(pixels=None, reason=reason, polarity=polarity)


def _several_digits_reason(digits: int) -> str:
    return f"several digits found ({digits}): /api/predict reads one digit"


def _to_grey(img: Image.Image) -> tuple[np.ndarray, bool, float]:
    """Return (float image in [0, 1], whether it is alpha-as-ink, scale factor).

    The scale factor maps working coordinates back to input coordinates.
    """
    if getattr(img, "n_frames", 1) > 1 and img.tell() != 0:
        img.seek(0)
    mode = work_mode(img)
    if mode != img.mode and (mode in ("L", "RGBA") or img.mode == "P"):
        img = img.convert(mode)  # palette, bilevel, other colour spaces, alpha in any form

    scale = 1.0
    longest = max(img.size)
    if longest > WORK_MAX_SIDE:
        scale = longest / WORK_MAX_SIDE
        size = (
            max(1, round(img.size[0] / scale)),
            max(1, round(img.size[1] / scale)),
        )
        if img.mode not in ("L", "RGB", "RGBA", "LA", "F", "I"):
            img = img.convert(work_mode(img))  # high bit depths to F, the rest to RGB
        if img.mode in ("RGBA", "LA"):
            img = img.convert("RGBa" if img.mode == "RGBA" else "La")  # premultiplied: no colour fringes
            img = img.resize(size, Image.Resampling.BOX).convert("RGBA" if img.mode == "RGBa" else "LA")
        else:
            img = img.resize(size, Image.Resampling.BOX)

    if img.mode in ("RGBA", "LA"):
        arr = np.asarray(img, dtype=np.float32) / 255.0
        alpha = arr[..., -1]
        colour = _luma(arr[..., :-1]) if img.mode == "RGBA" else arr[..., 0]
        transparent = alpha < 0.5
        if alpha.min() < 0.98:
            if transparent.mean() > 0.5:
                # A drawing on a transparent canvas: the ink is where alpha is.
                return alpha, True, scale
            # Mostly opaque with transparent holes: fill them with the opaque
            # content's typical colour, so they read as background.
            fill = float(np.median(colour[~transparent])) if (~transparent).any() else 1.0
            colour = colour * alpha + fill * (1.0 - alpha)
        return colour.astype(np.float32), False, scale

    if img.mode == "RGB":
        return _luma(np.asarray(img, dtype=np.float32) / 255.0), False, scale
    if img.mode == "L":
        return np.asarray(img, dtype=np.float32) / 255.0, False, scale

    # High bit depth and float modes: I;16*, I, F.
    arr = np.asarray(img.convert("F") if img.mode.startswith("I;16") else img)
    arr = arr.astype(np.float32)
    if img.mode == "F" and arr.size and np.nanmax(arr) <= 1.0 and np.nanmin(arr) >= 0.0:
        return np.nan_to_num(arr), False, scale
    peak = float(np.nanmax(arr)) if arr.size else 0.0
    low = float(np.nanmin(arr)) if arr.size else 0.0
    if low >= 0.0 and peak <= 255.0:
        full = 255.0
    elif low >= 0.0 and peak <= 65535.0:
        full = 65535.0
    else:
        arr = arr - low
        full = max(peak - low, 1e-6)
    return np.clip(np.nan_to_num(arr) / full, 0.0, 1.0), False, scale


def _dark_on_light(grey: np.ndarray, lo: float, med: float, hi: float) -> bool:
    """Polarity: whether the ink is darker than the background.

    The background is the side of the median (the majority), which holds for a digit with
    any margin around it. A tight crop of thick strokes (cut to the ink, or with a thin
    margin) can hold more ink than background; its background still makes most of the
    image's frame. Where the frame and the median disagree, the frame wins if the ink it
    implies is strokes (at most MAX_INK_SHARE of its own box), not a solid shape such as a
    sheet of paper photographed on a dark table.
    """
    by_median = (med - lo) > (hi - med)
    mid = 0.5 * (lo + hi)
    frame = _frame_median(grey)
    if abs(frame - mid) < FRAME_MARGIN * (hi - lo) or ((frame - lo) > (hi - frame)) == by_median:
        return by_median
    return by_median if _ink_share(grey < mid if not by_median else grey > mid) > MAX_INK_SHARE else not by_median


def _frame_median(grey: np.ndarray) -> float:
    """Median of an image's outermost pixels (its frame)."""
    return float(np.median(np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])))


def _ink_share(ink: np.ndarray) -> float:
    """Share of a mask's bounding box that the mask covers (0 for an empty mask)."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return 0.0
    return float(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].mean())


def _luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


def _reduced(grey: np.ndarray) -> np.ndarray:
    """A 2x2 block-mean copy of larger images: isolated noisy pixels fade,
    strokes two or more pixels wide keep most of their contrast."""
    h, w = grey.shape
    if h * w <= 96 * 96:
        return grey
    hh, ww = h // 2 * 2, w // 2 * 2
    return grey[:hh, :ww].reshape(hh // 2, 2, ww // 2, 2).mean(axis=(1, 3))


def _extremes(grey: np.ndarray) -> tuple[float, float, float]:
    """Dark end, background (median) and light end of the grey levels."""
    flat = grey.ravel()
    k = flat.size // 5000  # ~0.02% from each end
    part = np.partition(flat, (k, flat.size // 2, flat.size - 1 - k))
    return float(part[k]), float(part[flat.size // 2]), float(part[flat.size - 1 - k])


# Grey-level statistics work on a 256-bin histogram of an image in [0, 1]:
# one pass over the pixels, then everything is O(256).
_BINS = 256


_LEVEL_VALUES = np.arange(_BINS, dtype=np.float64) / (_BINS - 1)


def _levels(x: np.ndarray) -> np.ndarray:
    """An image in [0, 1] as 8-bit levels (0..255)."""
    q = x * (_BINS - 1) + 0.5
    np.clip(q, 0, _BINS - 1, out=q)
    return q.astype(np.uint8)


def _hist(levels: np.ndarray) -> np.ndarray:
    return np.bincount(levels.ravel(), minlength=_BINS).astype(np.float64)


def _hist_extremes(hist: np.ndarray) -> tuple:
    """_extremes from histograms (along the last axis, all of one image size): the same
    order statistics, without sorting."""
    counts = np.cumsum(hist, axis=-1)
    n = int(counts.flat[-1])
    k = n // 5000
    return tuple(np.argmax(counts > p, axis=-1) / (_BINS - 1) for p in (k, n // 2, n - 1 - k))


def _otsu_bin(hist: np.ndarray) -> int:
    """Otsu's threshold: first bin of the upper class."""
    return int(_otsu_bins(hist))


def _otsu_bins(hist: np.ndarray) -> np.ndarray:
    """_otsu_bin of each histogram along the last axis."""
    w0 = np.cumsum(hist, axis=-1)
    m0 = np.cumsum(hist * _LEVEL_VALUES, axis=-1)
    w1 = w0[..., -1:] - w0
    mu0 = m0 / np.maximum(w0, 1e-12)
    mu1 = (m0[..., -1:] - m0) / np.maximum(w1, 1e-12)
    return np.argmax(w0 * w1 * (mu0 - mu1) ** 2, axis=-1) + 1


def _hist_quantile(hist: np.ndarray, q: float, offset: int = 0) -> float:
    """The q-quantile (0..1) of the values counted in hist, on the 0..1 scale."""
    c = np.cumsum(hist)
    if c[-1] <= 0:
        return offset / (_BINS - 1)
    i = int(np.searchsorted(c, q * c[-1], side="left"))
    return (offset + min(i, hist.size - 1)) / (_BINS - 1)


def _is_clean(hist: np.ndarray, t: int) -> bool:
    """Flat background: most background pixels share one grey level.

    True for drawing canvases, rendered text and MNIST itself; false for
    photos and scans with gradients, shadows or paper texture, which then get
    background correction. t is Otsu's threshold bin.
    """
    back = hist[:t]
    n = back.sum()
    if n <= 0:
        return True
    mode = int(np.argmax(back))
    near = back[max(0, mode - CLEAN_TOLERANCE) : mode + CLEAN_TOLERANCE + 1].sum()
    return near >= CLEAN_FRACTION * n


def _is_flat_beside_ink(x: np.ndarray, t: int) -> bool:
    """_is_clean for the background left once the soft edges of the ink are set aside.

    A tight crop (a digit cut to its ink, or with a thin margin) has little background,
    and the anti-aliased edges of its strokes, grey levels between background and ink,
    can outnumber it: the histogram alone then calls a flat canvas textured, and the
    background correction that follows eats thick strokes. Edges lie within about
    EDGE_SHARE of the image's size of the ink; paper grain and shadows lie anywhere.
    x is the ink-high image, t Otsu's threshold bin of its histogram.
    """
    levels = _levels(x)
    back = levels < t
    reach = max(1.0, EDGE_SHARE * max(x.shape))
    far = ndimage.distance_transform_cdt(back, metric="chessboard") > reach
    if np.count_nonzero(far) < MIN_FLAT_PIXELS:
        return False
    return _is_clean(_hist(levels[far]), t)


def _is_noise(x: np.ndarray) -> bool:
    """Pixel noise: a 3x3 blur removes most of the variation.

    (Either polarity gives the same answer, as does a block-mean copy.)
    """
    if min(x.shape) < 16:
        return False
    std = float(x.std())
    if std < 1e-3:
        return False
    blurred = ndimage.uniform_filter(x, size=3)
    return float(blurred.std()) / std < MIN_NOISE_SMOOTHNESS


def _remove_background(x: np.ndarray, dark_on_light: bool) -> np.ndarray:
    """Subtract the estimated background; for paper, divide by its brightness."""
    bg = _background(x)
    x = x - bg
    if dark_on_light:
        # Reflectance: divide by the local paper brightness (1 - bg), which
        # evens out the ink contrast between lit and shadowed parts.
        x = x / np.maximum(1.0 - bg, 0.15)
    return np.clip(x, 0.0, 1.0)


def _background(x: np.ndarray) -> np.ndarray:
    """Estimate the (ink-low) background of an ink-high image."""
    h, w = x.shape
    f = max(1, int(round(max(h, w) / BACKGROUND_SIDE)))
    if f > 1:
        hh, ww = h // f * f, w // f * f
        blocks = x[:hh, :ww].reshape(hh // f, f, ww // f, f).transpose(0, 2, 1, 3)
        # A low value of each block: ink (high) rarely fills a whole block.
        small = np.percentile(blocks.reshape(hh // f, ww // f, f * f), 25, axis=2).astype(np.float32)
    else:
        small = x
    small = ndimage.percentile_filter(small, 30, size=7, mode="nearest")
    small = ndimage.uniform_filter(small, size=5, mode="nearest")
    if f > 1:
        # Bilinear upsampling to the whole image (the background is smooth,
        # so the cut-off margin of less than one cell does not matter).
        bg = np.asarray(
            Image.fromarray(np.ascontiguousarray(small, dtype=np.float32)).resize((w, h), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
    else:
        bg = small
    return bg.astype(np.float32)


def _soft_ink(x: np.ndarray, hist: np.ndarray, t: int, *, clean: bool) -> np.ndarray | None:
    """Map background to 0 and typical ink to 1, keeping soft edges.

    Otsu's threshold splits ink from background. Values below a noise floor
    (just above the background's spread) become 0, values at or above the
    typical ink level become 1, those in between keep their grey level.
    t is Otsu's threshold bin of hist, the histogram of x.
    """
    back, fore = hist[:t], hist[t:]
    if fore.sum() <= 0:
        return None
    # Flat background: just above its grey level (keeps MNIST's soft edges);
    # otherwise above nearly all of the background's texture and noise.
    floor = (int(np.argmax(back)) + CLEAN_TOLERANCE) / (_BINS - 1) if clean else _hist_quantile(back, 0.99)
    floor = min(floor, 0.8 * t / (_BINS - 1))
    top = _hist_quantile(fore, 0.6, offset=t)
    if top - floor < MIN_INK_CONTRAST:
        return None
    y = (x - floor) * (1.0 / (top - floor))
    return np.clip(y, 0.0, 1.0, out=y).astype(np.float32, copy=False)


_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def _digit_mask(ink: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Pixels that belong to the digit: its connected components, no specks; and how
    many digits stand side by side (see _digits_side_by_side; 0 when there is no digit).

    Components are found on the faint ink (so that soft edges stay with their
    stroke) and weighed by their strong ink (see _components_keep).
    """
    strong = ink >= 0.5
    if not strong.any():
        return None, 0
    labels, n = ndimage.label(ink > 0.05, structure=_EIGHT)
    strength = np.bincount(labels[strong], minlength=n + 1).astype(np.float64)
    boxes = ndimage.find_objects(labels)
    keep = _components_keep(strength, boxes, ink.shape, first=1)
    if keep is None:
        return None, 0
    return keep[labels], _digits_side_by_side(strength, boxes, ink.shape, first=1)


def _components_keep(strength: np.ndarray, boxes: list, shape: tuple[int, int], *, first: int) -> np.ndarray | None:
    """Which components make the digit: a boolean per label (label 0 and others False).

    strength[label] counts a component's strong-ink pixels and boxes[label - 1] is
    its bounding box (slices, the last two for rows and columns); the image's
    components are labels first..len(strength) - 1. The strongest one seeds the
    digit; others join when they are big enough and near it (the bar of a 5, a
    broken stroke), while specks, far-away marks and small artefacts on the image
    border are dropped.
    """
    ids = range(first, len(strength))
    biggest = first + int(np.argmax(strength[first:]))
    big = strength[biggest]
    if big < 2:
        return None
    h, w = shape
    rows, cols = boxes[biggest - 1][-2:]
    t0, b0, l0, r0 = rows.start, rows.stop, cols.start, cols.stop
    size = max(b0 - t0, r0 - l0)
    keep = np.zeros(len(strength), dtype=bool)
    keep[biggest] = True
    candidates = [i for i in ids if i != biggest and strength[i] >= max(2.0, 0.04 * big)]
    changed = True
    while changed and candidates:
        changed = False
        for i in list(candidates):
            rows, cols = boxes[i - 1][-2:]
            t, b, lft, r = rows.start, rows.stop, cols.start, cols.stop
            rel = strength[i] / big
            if (t == 0 or lft == 0 or b == h or r == w) and rel < 0.3:
                continue  # a small mark on the border: scan edge, shadow
            gap = max(0, t - b0, t0 - b, lft - r0, l0 - r)
            if gap <= size * (0.6 if rel >= 0.15 else 0.25):
                keep[i] = True
                candidates.remove(i)
                t0, b0, l0, r0 = min(t0, t), max(b0, b), min(l0, lft), max(r0, r)
                size = max(b0 - t0, r0 - l0)
                changed = True
    return keep


def _digits_side_by_side(strength: np.ndarray, boxes: list, shape: tuple[int, int], *, first: int) -> int:
    """How many digits the image holds side by side (1 for one digit); arguments as for
    _components_keep, whose candidates it looks at, far-away ones included.

    Geometry only. Components that overlap in x are one column (a digit drawn in
    several strokes, a broken scan); columns much shorter than the tallest are specks
    or dots. Tall columns side by side are digits when the pair is wide enough for
    two. Digits that touch are one component: left to the model, which mostly finds
    them no digit (a rule on wide ink caught pictures of shoes too).
    """
    if len(strength) - first < 2:
        return 1  # one component (most digits): nothing to compare
    big = strength[first:].max()
    h, w = shape
    columns = []  # [left, right, top, bottom]
    for i in range(first, len(strength)):
        rows, cols = boxes[i - 1][-2:]
        t, b, lft, r = rows.start, rows.stop, cols.start, cols.stop
        rel = strength[i] / big
        if strength[i] < max(2.0, 0.04 * big) or ((t == 0 or lft == 0 or b == h or r == w) and rel < 0.3):
            continue  # what _components_keep never considers: specks, small marks on the border
        columns.append([lft, r, t, b])
    columns.sort()
    merged = [columns[0]]
    for lft, r, t, b in columns[1:]:
        last = merged[-1]
        if last[1] - lft > COLUMN_OVERLAP * min(r - lft, last[1] - last[0]):
            last[1], last[2], last[3] = max(last[1], r), min(last[2], t), max(last[3], b)
        else:
            merged.append([lft, r, t, b])
    height = max(b - t for _, _, t, b in merged)
    lefts = []  # where each digit starts
    for lft, r, t, b in merged:
        # A column too narrow to be a second digit with the one before is a piece of it.
        if b - t >= DIGIT_MIN_HEIGHT * height and (not lefts or r - lefts[-1] >= DIGITS_MIN_SPAN * height):
            lefts.append(lft)
    return len(lefts)


def _pad1(mask: np.ndarray, value: bool) -> np.ndarray:
    """A boolean mask with a one-pixel border of value (cheaper than np.pad)."""
    out = np.full((mask.shape[0] + 2, mask.shape[1] + 2), value, dtype=bool)
    out[1:-1, 1:-1] = mask
    return out


def _stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width of a binary shape: 2 * area / boundary length."""
    return float(_stroke_widths(mask[np.newaxis])[0])


def _holes(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the background regions enclosed by the mask (4-connected)."""
    labels, n = ndimage.label(_pad1(~mask, True), structure=_FOUR)
    outside = labels[0, 0]
    labels = labels[1:-1, 1:-1]
    if n <= 1:
        return np.zeros_like(labels), 0
    # Renumber so that the outside is 0 and holes are 1..n-1.
    lut = np.arange(n + 1)
    lut[outside] = 0
    lut[outside + 1 :] -= 1
    return lut[labels], n - 1


def _fill_outline(crop: np.ndarray) -> np.ndarray:
    """Fill pinholes and the inside of outlined ("hollow") glyphs.

    Holes smaller than one output pixel are noise in a stroke. An outline font
    draws each stroke as two thin lines; the gap between them is a hole that
    is a bent band, much wider than the lines, and not convex. The counters of
    0, 4, 6, 8 and 9 are compact and nearly convex, and stay empty.
    """
    if max(crop.shape) <= 2 * DIGIT_SIZE:
        return crop  # too small for an outline font; pinholes are below one output pixel
    strong = crop >= 0.5
    labels, n = _holes(strong)
    if n == 0:
        return crop
    area = np.bincount(labels.ravel(), minlength=n + 1).astype(np.float64)
    area[0] = 0
    pixel = (max(crop.shape) / DIGIT_SIZE) ** 2
    fill = area < pixel
    fill[0] = False
    big = np.flatnonzero(~fill[1:]) + 1
    if big.size:
        line = _stroke_width(strong)
        min_band = max(3.0, 2.5 * line)
        slices = ndimage.find_objects(labels)
        # A band at least min_band wide and 2.5 band-widths long: cheap bounds first.
        big = [
            j
            for j in big
            if area[j] >= 2.5 * min_band**2
            and min(slices[j - 1][0].stop - slices[j - 1][0].start, slices[j - 1][1].stop - slices[j - 1][1].start)
            >= min_band
        ]
    if len(big):
        half = np.asarray(ndimage.maximum(ndimage.distance_transform_edt(labels > 0), labels, np.arange(n + 1)))
        for j in big:
            band = 2.0 * half[j]
            if band < min_band or area[j] < 2.5 * band**2:
                continue
            if _solidity(labels[slices[j - 1]] == j) < 0.8:
                fill[j] = True
    if not fill.any():
        return crop
    out = crop.copy()
    out[fill[labels]] = 1.0
    return out


def _solidity(mask: np.ndarray) -> float:
    """Area of a shape over the area of its convex hull (1.0 = convex)."""
    from scipy.spatial import ConvexHull, QhullError

    ys, xs = np.nonzero(mask)
    # Pixel corners, so that thin shapes have a proper hull.
    pts = np.concatenate([np.stack([ys + dy, xs + dx], axis=1) for dy in (0, 1) for dx in (0, 1)]).astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError):
        return 1.0
    return float(mask.sum()) / max(float(hull.volume), 1.0)


def _shrink(crop: np.ndarray, side: int) -> np.ndarray:
    """Area-average a crop down so that its longest side is at most side."""
    h, w = crop.shape
    if max(h, w) <= side:
        return crop
    f = side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    img = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32))
    return np.asarray(img.resize(size, Image.Resampling.BOX), dtype=np.float32)


def _adjust_stroke_width(crop: np.ndarray, *, stroke_width: float | None = None) -> np.ndarray:
    """Bring strokes far from MNIST's width back into its range.

    Stroke width is measured in output pixels (the crop is about to be scaled
    to 20 px); MNIST strokes are 2-3 px wide (5th-95th percentile 2.1-4.1).
    A fat brush is eroded, a hairline (a fine pen on a large scan, which would
    come out faint) is dilated, both toward MNIST's typical width.
    """
    h, w = crop.shape
    scale = DIGIT_SIZE / max(h, w)
    if stroke_width is None:
        stroke_width = _stroke_width(crop >= 0.5)
    width = stroke_width * scale
    if THICKEN_BELOW_WIDTH <= width <= THIN_ABOVE_WIDTH or width == 0:
        return crop
    target = THIN_TARGET_WIDTH if width > THIN_ABOVE_WIDTH else THICKEN_TARGET_WIDTH
    radius = int(round(abs(width - target) / 2.0 / scale))  # per side, in crop pixels
    if radius < 1:
        return crop
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disk = (yy * yy + xx * xx) <= radius * radius + radius
    if width < THICKEN_BELOW_WIDTH:
        return ndimage.grey_dilation(crop, footprint=disk, mode="constant", cval=0.0)
    thinned = ndimage.grey_erosion(crop, footprint=disk, mode="constant", cval=0.0)
    if np.count_nonzero(thinned >= 0.5) < 0.25 * np.count_nonzero(crop >= 0.5):
        return crop  # a blob rather than strokes: leave it
    return thinned


def _fit_mnist(crop: np.ndarray) -> np.ndarray | None:
    """Scale the cropped ink to a 20 px box and centre it by mass in 28x28."""
    h, w = crop.shape
    if h == 0 or w == 0:
        return None
    s = DIGIT_SIZE / max(h, w)
    nh = max(1, int(round(h * s)))
    nw = max(1, int(round(w * s)))
    if (nh, nw) != (h, w):
        # Upscaled (a low-resolution crop): bicubic keeps the strokes' shape better than bilinear.
        resample = Image.Resampling.LANCZOS if s < 1 else Image.Resampling.BICUBIC
        small = np.asarray(
            Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32)).resize((nw, nh), resample), dtype=np.float32
        )
        if s > 1:
            # An edge one input pixel wide would now span s output pixels, far softer than
            # MNIST's: steepen it back (about the middle grey), by at most MAX_EDGE_GAIN.
            small = (small - 0.5) * min(s, MAX_EDGE_GAIN) + 0.5
        small = np.clip(small, 0.0, 1.0)
    else:
        small = crop
    total = float(small.sum())
    if total <= 0:
        return None
    cy = float(small.sum(axis=1) @ np.arange(nh, dtype=np.float32)) / total
    cx = float(small.sum(axis=0) @ np.arange(nw, dtype=np.float32)) / total
    top = min(max(int(round(MNIST_CENTRE[0] - cy)), 0), OUTPUT_SIZE - nh)
    left = min(max(int(round(MNIST_CENTRE[1] - cx)), 0), OUTPUT_SIZE - nw)
    out = np.zeros((OUTPUT_SIZE, OUTPUT_SIZE), dtype=np.float32)
    out[top : top + nh, left : left + nw] = small
    return out


# --------------------------------------------------------------------------
# Many small grey images at once
# --------------------------------------------------------------------------


def _stroke_widths(masks: np.ndarray) -> np.ndarray:
    """_stroke_width of each mask of an (N, h, w) stack: 2 * area / boundary length, where
    the boundary is the shape's pixels with a 4-neighbour outside it (or off the image)."""
    area = np.count_nonzero(masks, axis=(1, 2))
    m = np.zeros((masks.shape[0], masks.shape[1] + 2, masks.shape[2] + 2), dtype=bool)
    m[:, 1:-1, 1:-1] = masks
    inner = m[:, 1:-1, 1:-1] & m[:, :-2, 1:-1] & m[:, 2:, 1:-1] & m[:, 1:-1, :-2] & m[:, 1:-1, 2:]
    boundary = area - np.count_nonzero(inner, axis=(1, 2))
    return np.where(area == 0, 0.0, 2.0 * area / np.maximum(boundary, 1))
