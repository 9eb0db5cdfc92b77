"""Read a number: split the ink of an image into digits and classify them in one call.

Plain Python (numpy, scipy.ndimage, Pillow); no Django. The ink comes from the one-image
pipeline (``find_ink``: grey levels, polarity, background), and every digit goes through
that pipeline's last steps (crop, outline filling, stroke width, 20 px box, centre of
mass), so a digit of a number is prepared exactly as a digit uploaded alone.

1. Connected components of the ink. Specks are dropped; the typical digit height H is
   the median height of the substantial components.
2. Small components are sorted out by size and place against H and the line's top and
   baseline (fitted through the tall components, so a slight slope is fine): one above
   or below a digit's columns is part of it (the bar of a 5); a dot or comma near the
   baseline and a dash at mid-height between digits are skipped and reported; a small
   mark far from everything or on the image border is skipped.
3. The rest are atoms, ordered left to right by their centres. An atom much wider than
   its height (digits that touch) is cut into slices at minima of its column
   projection.
4. Candidate digits are runs of consecutive slices or atoms that may belong together
   (the same atom, or overlapping / nearly touching columns: a 4 drawn in two strokes),
   no wider than a digit can be. All candidates are preprocessed and classified in ONE
   model call; dynamic programming then picks the partition whose digits the model is
   surest of (the product of their digit probabilities). The model's confidence is what
   chooses between cut points, and between merging pieces or not.
5. The chosen digits are decided like single digits (``decide_rows``). The number is
   rejected when there is no ink, when it looks like a word or a picture (many
   components, or many pieces that are no digit), or when one digit is unsure (named in
   the reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image
from scipy import ndimage

from vision.infer import NO_DIGIT_THRESHOLD, decide_rows
from vision.preprocess import Preprocessed, _finish_crop, _stroke_width, find_ink

__all__ = ["DigitReading", "NumberReading", "Skipped", "read_number"]

#: Above this many components (after specks) the image is text or a picture, not a number.
MAX_COMPONENTS = 60
#: Above this many digits it is not a number anyone writes in one go.
MAX_DIGITS = 24
#: A candidate digit is at most this many times as wide as H (or as its own height).
MAX_DIGIT_WIDTH = 1.25
#: An atom wider than this share of its height may be two or more digits that touch.
TOUCHING_WIDTH = 0.75
#: A slice of a touching pair is at least this share of H wide.
MIN_SLICE_WIDTH = 0.12
#: Atoms closer than this share of H (or overlapping) may be one digit.
LINK_GAP = 0.15
#: A component shorter than this share of H is small (a bar, a dot, a dash, a piece).
SMALL_HEIGHT = 0.45
#: Log-score of cutting an atom no wider than TOUCHING_WIDTH times its height, falling to
#: 0 at WIDE: a digit that is merely wide is rarely two.
CUT_COST = -1.0
WIDE = 1.1
#: An atom at least this share of its height wide may be two digits that touch anywhere:
#: every cut point is tried. Below it, only cuts through a thin link (THIN_LINK).
PAIR_WIDTH = 0.9
#: In an atom that is not wide, a cut goes through at most this many stroke widths of ink.
THIN_LINK = 1.5
#: Log-score of one digit made of two digit-sized atoms side by side.
MERGE_COST = -3.0
#: Log-score added per digit: below 0 prefers fewer, surer digits.
PIECE_BONUS = -0.05


class Classifier(Protocol):
    def classify(self, images: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class DigitReading:
    digit: int | None
    confidence: float
    #: x, y, width, height in the input image's pixels.
    box: tuple[int, int, int, int]
    #: The ten digit probabilities (renormalised, like a single prediction's).
    probs: list[float]
    no_digit_prob: float
    reason: str | None
    #: The 28x28 image the model saw.
    pixels: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class Skipped:
    """Ink that is not a digit: "dot", "comma", "dash" or "mark"."""

    kind: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class NumberReading:
    text: str | None
    digits: list[DigitReading]
    rejected: bool
    reason: str | None
    skipped: list[Skipped] = field(default_factory=list)
    polarity: str | None = None


@dataclass
class _Atom:
    labels: list[int]
    top: int
    bottom: int
    left: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def add(self, label: int, box: tuple[int, int, int, int]) -> None:
        self.labels.append(label)
        t, b, lft, r = box
        self.top, self.bottom = min(self.top, t), max(self.bottom, b)
        self.left, self.right = min(self.left, lft), max(self.right, r)


@dataclass(frozen=True)
class _Slice:
    atom: int
    left: int  # columns [left, right) of the atom
    right: int


def read_number(img: Image.Image, classifier: Classifier) -> NumberReading:
    """Read the digits of a decoded image (from decode_image) left to right."""
    found = find_ink(img)
    if isinstance(found, Preprocessed):
        return _rejected(found.reason or "no ink found", polarity=found.polarity)
    ink, scale = found.ink, found.scale
    polarity = found.polarity

    labels, n = ndimage.label(ink > 0.05, structure=np.ones((3, 3), dtype=bool))
    strong = ink >= 0.5
    strength = np.bincount(labels[strong], minlength=n + 1).astype(np.float64)
    strength[0] = 0
    if n == 0 or strength.max() < 2:
        return _rejected("no ink found: only specks, no strokes", polarity=polarity)
    slices = ndimage.find_objects(labels)
    boxes = {
        i: (s[0].start, s[0].stop, s[1].start, s[1].stop)
        for i, s in enumerate(slices, start=1)
        if s is not None and strength[i] >= max(3.0, 0.01 * strength.max())
    }  # specks dropped
    if len(boxes) > MAX_COMPONENTS:
        return _rejected(f"not a number: {len(boxes)} separate marks look like text or a picture", polarity=polarity)
    heights = np.array([b - t for t, b, _, _ in boxes.values()])
    big = [i for i in boxes if strength[i] >= 0.1 * strength.max()]
    digit_height = float(np.median([boxes[i][1] - boxes[i][0] for i in big]))
    digit_height = max(digit_height, 0.5 * float(heights.max()))
    stroke = _stroke_width(strong)

    def to_input(t: int, b: int, lft: int, r: int) -> tuple[int, int, int, int]:
        x0, y0 = int(lft * scale), int(t * scale)
        return (x0, y0, int(math.ceil(r * scale)) - x0, int(math.ceil(b * scale)) - y0)

    # Tall components are digits or most of one; they give the line (top and baseline).
    tall = [i for i, (t, b, lft, r) in boxes.items() if b - t >= SMALL_HEIGHT * digit_height]
    line_top, line_bottom = _line(
        [((boxes[i][2] + boxes[i][3]) / 2, boxes[i][0], boxes[i][1]) for i in tall], digit_height
    )
    atoms = [_Atom([i], *boxes[i]) for i in tall]
    skipped: list[Skipped] = []
    h_img, w_img = ink.shape
    for i, (t, b, lft, r) in sorted(boxes.items(), key=lambda kv: -strength[kv[0]]):
        if i in tall:
            continue
        h, w = b - t, r - lft
        cx, cy = (lft + r) / 2, (t + b) / 2
        top_y, bottom_y = line_top(cx), line_bottom(cx)
        where = (cy - top_y) / max(bottom_y - top_y, 1.0)  # 0 at the top of the line, 1 at the baseline
        overlaps = [max(0, min(r, a.right) - max(lft, a.left)) / max(w, 1) for a in atoms]
        best = int(np.argmax(overlaps)) if overlaps else -1
        overlap = overlaps[best] if overlaps else 0.0
        dot_like = max(h, w) <= 0.35 * digit_height and where > 0.6
        dash_like = h <= 0.3 * digit_height and w >= 1.5 * h and 0.25 <= where <= 0.8
        gap = min((_gap(lft, r, a.left, a.right) for a in atoms), default=math.inf)
        if dot_like and overlap < 0.5:
            kind = "comma" if h > 1.5 * w or b > bottom_y + 0.15 * digit_height else "dot"
            skipped.append(Skipped(kind, to_input(t, b, lft, r)))
        elif dash_like and overlap < 0.3:
            skipped.append(Skipped("dash", to_input(t, b, lft, r)))
        elif overlap >= 0.3:
            atoms[best].add(i, (t, b, lft, r))  # above or below a digit: the bar of a 5, a broken stroke
        elif gap > 0.4 * digit_height or (t == 0 or lft == 0 or b == h_img or r == w_img):
            skipped.append(Skipped("mark", to_input(t, b, lft, r)))
        else:
            atoms.append(_Atom([i], t, b, lft, r))  # a piece beside a digit: the model decides
    if not atoms:
        return _rejected("no digits found: only punctuation", polarity=polarity, skipped=skipped)
    atoms.sort(key=lambda a: (a.left + a.right) / 2)

    # Slices: whole atoms, or the parts of a wide atom between cut points.
    pieces: list[_Slice] = []
    valleys: list[float] = []  # per slice: the ink of the cut after it
    for k, atom in enumerate(atoms):
        cuts = []
        if atom.width > TOUCHING_WIDTH * atom.height:
            mask = (
                np.isin(labels[atom.top : atom.bottom, atom.left : atom.right], atom.labels)
                & strong[atom.top : atom.bottom, atom.left : atom.right]
            )
            cuts = _cut_points(mask, height=max(atom.height, 0.7 * digit_height))
            if atom.width < PAIR_WIDTH * atom.height:
                # Not wide: only a cut through little ink (where two digits touch) is worth
                # asking the model about; a cut across a loop or a bar is not.
                cuts = [x for x in cuts if mask[:, x].sum() <= THIN_LINK * stroke]
            valleys += [float(mask[:, x].sum()) for x in cuts]  # strong ink the cut goes through
        edges = [0, *cuts, atom.width]
        pieces += [_Slice(k, atom.left + a, atom.left + b) for a, b in zip(edges, edges[1:], strict=False)]
        valleys.append(0.0)  # after an atom's last slice: no cut
    if len(pieces) > 3 * MAX_DIGITS:
        return _rejected(
            f"not a number: {len(pieces)} pieces of ink look like text or a picture",
            polarity=polarity,
            skipped=skipped,
        )

    def linked(p: _Slice, q: _Slice) -> bool:
        if p.atom == q.atom:
            return True
        a, b = atoms[p.atom], atoms[q.atom]
        # A small piece (a broken stroke) may be a little further from its digit.
        reach = LINK_GAP * digit_height * (2 if min(a.height, b.height) < SMALL_HEIGHT * digit_height else 1)
        return _gap(p.left, p.right, q.left, q.right) <= reach and _gap(a.left, a.right, b.left, b.right) <= reach

    # Candidates: runs [i, j] of consecutive linked slices no wider than a digit.
    runs: list[tuple[int, int]] = []
    for i in range(len(pieces)):
        j = i
        while True:
            runs.append((i, j))
            if j + 1 >= len(pieces) or not linked(pieces[j], pieces[j + 1]):
                break
            j += 1
            left = min(p.left for p in pieces[i : j + 1])
            right = max(p.right for p in pieces[i : j + 1])
            tops = [atoms[p.atom].top for p in pieces[i : j + 1]]
            bottoms = [atoms[p.atom].bottom for p in pieces[i : j + 1]]
            if right - left > MAX_DIGIT_WIDTH * max(digit_height, max(bottoms) - min(tops)):
                break
    crops = [_run_crop(ink, labels, atoms, pieces[i : j + 1]) for i, j in runs]
    prepared = [
        _finish_crop(crop, box, polarity=polarity, scale=scale, corrected=found.corrected) if crop is not None else None
        for crop, box in crops
    ]
    usable = [k for k, p in enumerate(prepared) if p is not None and p.pixels is not None]
    if not usable:
        return _rejected("no ink found: only specks, no strokes", polarity=polarity, skipped=skipped)
    # ONE model call for every candidate digit of the image.
    found_probs = classifier.classify(np.stack([prepared[k].pixels for k in usable]))
    probs = np.zeros((len(runs), found_probs.shape[1]), dtype=np.float64)
    probs[usable] = found_probs

    # Best partition of the slices into runs: the product of digit probabilities, times a
    # prior against cutting an atom that is not wide (a cut) and against joining two
    # digit-sized atoms side by side (a merge).
    cut_cost = [0.0] * len(pieces)  # cost of a digit boundary after slice j
    merge_cost = [0.0] * len(pieces)  # cost of one digit across slices j and j + 1
    for j in range(len(pieces) - 1):
        p, q = pieces[j], pieces[j + 1]
        a, b = atoms[p.atom], atoms[q.atom]
        if p.atom == q.atom:
            # Costly when the atom is not wide and the cut goes through a stroke or more;
            # free where only faint ink joins the two sides.
            narrow = min(1.0, max(0.0, WIDE - a.width / a.height) / (WIDE - TOUCHING_WIDTH))
            cut_cost[j] = CUT_COST * narrow * min(1.0, valleys[j] / max(1.5 * stroke, 1.0))
        elif min(a.height, b.height) >= 0.6 * digit_height and -_gap(a.left, a.right, b.left, b.right) < 0.5 * min(
            a.width, b.width
        ):
            merge_cost[j] = MERGE_COST
    index = {run: k for k, run in enumerate(runs)}
    best = [0.0] + [-math.inf] * len(pieces)
    back = [0] * (len(pieces) + 1)
    for j in range(len(pieces)):
        for i in range(j + 1):
            k = index.get((i, j))
            if k is None or best[i] == -math.inf:
                continue
            p = float(probs[k, :10].max()) if k in usable else 0.0
            score = best[i] + math.log(max(p, 1e-6)) + PIECE_BONUS + cut_cost[j] + sum(merge_cost[i:j])
            if score > best[j + 1]:
                best[j + 1], back[j + 1] = score, i
    chosen, j = [], len(pieces)
    while j > 0:
        i = back[j]
        chosen.append(index[(i, j - 1)])
        j = i
    chosen = [k for k in reversed(chosen) if k in usable]
    if len(chosen) > MAX_DIGITS:
        return _rejected(f"not a number: {len(chosen)} marks in a row", polarity=polarity, skipped=skipped)

    decisions = decide_rows(probs[chosen])
    # A small piece left on its own that the model finds no digit is a mark, not a digit.
    small = [
        d.digit is None and crops[k][1][3] - crops[k][1][1] < SMALL_HEIGHT * digit_height
        for k, d in zip(chosen, decisions, strict=True)
    ]
    skipped += [Skipped("mark", _xywh(prepared[k].bbox)) for k, s in zip(chosen, small, strict=True) if s]
    decisions = [d for d, s in zip(decisions, small, strict=True) if not s]
    chosen = [k for k, s in zip(chosen, small, strict=True) if not s]
    if not chosen:
        return _rejected("no digits found: only small marks", polarity=polarity, skipped=skipped)
    digits = [
        DigitReading(
            digit=d.digit,
            confidence=d.confidence,
            box=_xywh(prepared[k].bbox),
            probs=d.digit_probs,
            no_digit_prob=d.no_digit_prob,
            reason=d.reason,
            pixels=prepared[k].pixels,
        )
        for k, d in zip(chosen, decisions, strict=True)
    ]
    reason = _doubt(digits)
    text = None if reason else "".join(str(d.digit) for d in digits)
    return NumberReading(text, digits, reason is not None, reason, skipped, polarity)


def _doubt(digits: list[DigitReading]) -> str | None:
    """Why the digits are not a number, or None when they are."""
    unsure = [k for k, d in enumerate(digits) if d.digit is None]
    not_digit = [k for k in unsure if _not_digit(digits[k])]
    if len(not_digit) * 3 >= len(digits) + 1 or len(unsure) * 2 > len(digits):
        return "not a number: the image looks like a word or a picture, not digits"
    if unsure:
        k = unsure[0]
        what = "is not sure" if k not in not_digit else "does not look like a digit"
        return f"digit {k + 1} of {len(digits)} {what}: {digits[k].reason}"
    return None


def _not_digit(d: DigitReading) -> bool:
    return d.digit is None and d.no_digit_prob >= NO_DIGIT_THRESHOLD


def _rejected(reason: str, *, polarity: str | None, skipped: list[Skipped] | None = None) -> NumberReading:
    return NumberReading(None, [], True, reason, skipped or [], polarity)


def _xywh(bbox: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    left, top, right, bottom = bbox
    return (left, top, right - left, bottom - top)


def _gap(l1: int, r1: int, l2: int, r2: int) -> int:
    """Columns between two spans (negative when they overlap)."""
    return max(l1, l2) - min(r1, r2)


def _line(centres: list[tuple[float, int, int]], height: float):
    """Top and baseline of the line as functions of x, fitted through the tall components
    (x centre, top, bottom): straight and possibly sloped."""
    if len(centres) >= 2:
        xs = np.array([c[0] for c in centres])
        if np.ptp(xs) > height:
            top = np.polyfit(xs, [c[1] for c in centres], 1)
            bottom = np.polyfit(xs, [c[2] for c in centres], 1)
            return (lambda x: float(np.polyval(top, x))), (lambda x: float(np.polyval(bottom, x)))
    if centres:
        t = float(np.median([c[1] for c in centres]))
        b = float(np.median([c[2] for c in centres]))
    else:
        t, b = 0.0, height
    return (lambda x: t), (lambda x: b)


def _cut_points(mask: np.ndarray, *, height: float) -> list[int]:
    """Columns where digits that touch may be cut: minima of the column projection,
    at least MIN_SLICE_WIDTH * height apart and from the ends."""
    proj = mask.sum(axis=0).astype(np.float64)
    width = proj.size
    smooth = ndimage.uniform_filter1d(proj, size=3, mode="nearest")
    margin = max(2, int(MIN_SLICE_WIDTH * height))
    spacing = max(2, int(0.22 * height))
    candidates = []
    for x in range(margin, width - margin):
        if smooth[x] <= smooth[x - 1] and smooth[x] <= smooth[x + 1]:
            # The middle of a flat valley (columns of faint ink only, where digits touch).
            lo = hi = x
            while lo > margin and proj[lo - 1] <= proj[x] + 1:
                lo -= 1
            while hi < width - margin - 1 and proj[hi + 1] <= proj[x] + 1:
                hi += 1
            candidates.append((smooth[x], (lo + hi + 1) // 2))
    limit = max(1, int(math.ceil(width / (0.35 * height))))  # about one cut per narrow digit
    cuts: list[int] = []
    peak = float(smooth.max()) if width else 0.0
    for value, x in sorted(candidates):
        if value > 0.75 * peak:
            break
        if all(abs(x - c) >= spacing for c in cuts):
            cuts.append(x)
            if len(cuts) >= limit:
                break
    return sorted(cuts)


def _run_crop(
    ink: np.ndarray, labels: np.ndarray, atoms: list[_Atom], run: list[_Slice]
) -> tuple[np.ndarray | None, tuple[int, int, int, int]]:
    """The ink of a run of slices, cropped to its box, and the box (left, top, right, bottom)."""
    left = min(p.left for p in run)
    right = max(p.right for p in run)
    top = min(atoms[p.atom].top for p in run)
    bottom = max(atoms[p.atom].bottom for p in run)
    region = labels[top:bottom, left:right]
    keep = np.zeros(region.shape, dtype=bool)
    for p in run:
        cols = slice(p.left - left, p.right - left)
        keep[:, cols] |= np.isin(region[:, cols], atoms[p.atom].labels)
    rows = np.flatnonzero(keep.any(axis=1))
    cols = np.flatnonzero(keep.any(axis=0))
    if rows.size == 0:
        return None, (left, top, right, bottom)
    t, b, lft, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = np.where(keep[t:b, lft:r], ink[top + t : top + b, left + lft : left + r], 0.0).astype(np.float32)
    return crop, (left + lft, top + t, left + r, top + b)
