"""Many small grey images at once: :func:`preprocess_images`, with the results of
:func:`vision.preprocess.preprocess_decoded` for each, in a few array operations for the
whole stack (a batch job's MNIST-style PNGs). Plain numpy/scipy: no Django.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from vision.decode import DECODE_SCALE_KEY, ImageDecodeError
from vision.preprocess import (
    _BINS,
    CLEAN_FRACTION,
    CLEAN_TOLERANCE,
    MIN_INK_CONTRAST,
    Preprocessed,
    _components_keep,
    _dark_on_light,
    _digits_side_by_side,
    _finish_crop,
    _hist_extremes,
    _levels,
    _otsu_bins,
    _reject,
    _several_digits_reason,
    _stroke_widths,
    preprocess_decoded,
)

__all__ = ["STACK_MAX_PIXELS", "preprocess_images"]

# Images up to this many pixels are worked on without a block-mean copy (see _reduced).
STACK_MAX_PIXELS = 96 * 96
# 8-connected components within each image of a stack, never across images.
_EIGHT_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_EIGHT_IN_PLANE[1] = True


def preprocess_images(images: list[Image.Image]) -> list[Preprocessed | ImageDecodeError]:
    """preprocess_decoded of each image, with the same results, for many images at once;
    an image that turns out to be damaged gets its ImageDecodeError in the list.

    Small 8-bit grey images of one size (a batch job's MNIST-style PNGs) go
    through the grey-level statistics, the ink mapping and the component
    labelling as one stack: a few array operations instead of a few dozen per
    image, which is what small images otherwise spend their time on. Anything
    else, and any image whose background needs correction, goes through
    preprocess_pil. Keep the list to small images where memory matters: each
    is held decoded until the call returns.
    """
    results: list[Preprocessed | None] = [None] * len(images)
    same_size: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        if _stackable(img):
            same_size.setdefault(img.size, []).append(i)
    for indexes in same_size.values():
        stack = np.stack([np.asarray(images[i]) for i in indexes])
        for i, result in zip(indexes, _preprocess_stack(stack), strict=True):
            results[i] = result
    return [
        result if result is not None else _preprocess_or_error(img) for result, img in zip(results, images, strict=True)
    ]


def _preprocess_or_error(img: Image.Image) -> Preprocessed | ImageDecodeError:
    try:
        return preprocess_decoded(img)
    except ImageDecodeError as exc:
        return exc


def _stackable(img: Image.Image) -> bool:
    return (
        img.mode == "L"
        and "transparency" not in img.info
        and DECODE_SCALE_KEY not in img.info
        and img.size[0] * img.size[1] <= STACK_MAX_PIXELS
        and getattr(img, "n_frames", 1) == 1
    )


def _preprocess_stack(levels: np.ndarray) -> list[Preprocessed | None]:
    """preprocess_pil's steps on (N, h, w) 8-bit grey images; None where an image needs
    background correction (left to preprocess_pil). Each step is the array form of the
    one-image step it names, so that the results are equal (a test checks it)."""
    count, h, w = levels.shape
    grey = levels.astype(np.float32) / 255.0  # _to_grey
    q = _levels(grey).reshape(count, -1)
    offsets = (np.arange(count, dtype=np.intp) * _BINS)[:, None]
    hist = np.bincount((q + offsets).ravel(), minlength=count * _BINS).reshape(count, _BINS).astype(np.float64)

    lo, med, hi = _hist_extremes(hist)
    blank = np.maximum(med - lo, hi - med) < MIN_INK_CONTRAST
    dark = (med - lo) > (hi - med)
    # _dark_on_light: where the frame disagrees with the median, decide image by image (rare).
    frame = np.median(np.concatenate([grey[:, 0], grey[:, -1], grey[:, 1:-1, 0], grey[:, 1:-1, -1]], axis=1), axis=1)
    for i in np.flatnonzero(((frame - lo) > (hi - frame)) != dark).tolist():
        dark[i] = _dark_on_light(grey[i], float(lo[i]), float(med[i]), float(hi[i]))
    x = np.where(dark[:, None, None], 1.0 - grey, grey)
    hist = np.where(dark[:, None], hist[:, ::-1], hist)

    # _otsu_bin and _is_clean
    otsu = _otsu_bins(hist)
    bins = np.arange(_BINS)
    below = bins < otsu[:, None]
    background = np.where(below, hist, 0.0).sum(axis=1)
    mode = np.argmax(np.where(below, hist, -1.0), axis=1)
    near = below & (bins >= (mode - CLEAN_TOLERANCE)[:, None]) & (bins <= (mode + CLEAN_TOLERANCE)[:, None])
    clean = (background <= 0) | (np.where(near, hist, 0.0).sum(axis=1) >= CLEAN_FRACTION * background)

    # _soft_ink with a clean background
    fore = np.cumsum(np.where(below, 0.0, hist), axis=1)
    floor = np.minimum((mode + CLEAN_TOLERANCE) / (_BINS - 1), 0.8 * otsu / (_BINS - 1))
    top = np.argmax(fore >= 0.6 * fore[:, -1:], axis=1) / (_BINS - 1)
    faint = (fore[:, -1] <= 0) | (top - floor < MIN_INK_CONTRAST)
    usable = ~blank & clean & ~faint
    span = np.where(usable, top - floor, 1.0)
    ink = (x - floor.astype(np.float32)[:, None, None]) * (1.0 / span).astype(np.float32)[:, None, None]
    np.clip(ink, 0.0, 1.0, out=ink)
    ink[~usable] = 0.0  # no components for the images decided already

    # _digit_mask: one labelling for the stack; each image's labels are consecutive
    strong = ink >= 0.5
    labels, n = ndimage.label(ink > 0.05, structure=_EIGHT_IN_PLANE)
    strength = np.bincount(labels[strong], minlength=n + 1).astype(np.float64)
    boxes = ndimage.find_objects(labels)
    last = labels.reshape(count, -1).max(axis=1)
    first = np.concatenate([[0], np.maximum.accumulate(last)[:-1]]) + 1
    has_strong = strong.reshape(count, -1).any(axis=1)

    results: list[Preprocessed | None] = [None] * count
    polarities = ["dark_on_light" if d else "light_on_dark" for d in dark.tolist()]
    kept = np.zeros(n + 1, dtype=bool)  # the labels of each image's digit
    digits = []
    for i in range(count):
        if blank[i]:
            results[i] = _reject("no ink found: the image is blank", None)
        elif not clean[i]:
            continue  # left to preprocess_pil
        elif faint[i]:
            results[i] = _reject("no ink found: the image is blank", polarities[i])
        else:
            keep = None
            if has_strong[i]:
                keep = _components_keep(strength[: last[i] + 1], boxes, (h, w), first=int(first[i]))
            if keep is None:
                results[i] = _reject("no ink found: only specks, no strokes", polarities[i])
            elif (count := _digits_side_by_side(strength[: last[i] + 1], boxes, (h, w), first=int(first[i]))) > 1:
                results[i] = _reject(_several_digits_reason(count), polarities[i])
            else:
                kept[first[i] : last[i] + 1] = keep[first[i] : last[i] + 1]
                digits.append(i)
    if not digits:
        return results

    # _finish up to the crop, for the stack: the digit's mask, its box and its stroke width
    mask = kept[labels]
    masked = np.where(mask, ink, np.float32(0.0))
    widths = _stroke_widths(masked >= 0.5).tolist()
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    tops, bottoms = rows.argmax(axis=1).tolist(), (h - rows[:, ::-1].argmax(axis=1)).tolist()
    lefts, rights = cols.argmax(axis=1).tolist(), (w - cols[:, ::-1].argmax(axis=1)).tolist()
    for i in digits:
        top, bottom, left, right = tops[i], bottoms[i], lefts[i], rights[i]
        crop = np.ascontiguousarray(masked[i, top:bottom, left:right])
        results[i] = _finish_crop(crop, (left, top, right, bottom), polarity=polarities[i], stroke_width=widths[i])
    return results
