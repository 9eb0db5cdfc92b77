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
   its height (digits that touch) is cut into slices along paths from its top to its
   bottom that cross as few strokes as possible (not straight down: a stroke leaning over
   the neighbour's columns stays whole).
4. Candidate digits are runs of consecutive slices or atoms that may belong together
   (the same atom, or overlapping / nearly touching columns: a 4 drawn in two strokes),
   no wider than a digit can be (wider when the run is one component: a 7 whose bar runs
   far right). All candidates are preprocessed and classified in ONE model call; dynamic
   programming then picks the partition whose digits the model is surest of (the product
   of their digit probabilities, as the model gives them before calibration, so the
   version's temperature does not move the cuts). The model's confidence is what chooses
   between cut points, and between merging pieces or not.
5. The chosen digits are decided like single digits (``decide_rows``, on the calibrated
   probabilities). The number is
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

from vision.calibration import temperature_apply, temperature_apply_rows
from vision.infer import NO_DIGIT_THRESHOLD, decide_rows
from vision.preprocess import Preprocessed, _finish_crop, _stroke_width, find_ink

__all__ = ["DigitReading", "NumberReading", "Skipped", "read_number"]

#: Above this many components (after specks) the image is text or a picture, not a number.
MAX_COMPONENTS = 60
#: Above this many digits it is not a number anyone writes in one go.
MAX_DIGITS = 24
#: A candidate digit is at most this many times as wide as H (or as its own height).
MAX_DIGIT_WIDTH = 1.25
#: ... and one made of a single component (one stroke) at most this many times: a 7 or a 5
#: whose bar runs far to the right, a 0 drawn flat.
MAX_STROKE_WIDTH = 1.75
#: An atom wider than this share of its height may be two or more digits that touch.
TOUCHING_WIDTH = 0.75
#: Cuts of a touching pair stand at least this share of H apart in the middle row (a 1 is narrow).
CUT_SPACING = 0.15
#: A slice of a touching pair is at least this share of H wide.
MIN_SLICE_WIDTH = 0.12
#: Atoms closer than this share of H (or overlapping) may be one digit.
LINK_GAP = 0.15
#: A component shorter than this share of H is small (a bar, a dot, a dash, a piece).
SMALL_HEIGHT = 0.45
#: Log-score of cutting an atom no wider than TOUCHING_WIDTH times its height, falling to
#: 0 at WIDE: a digit that is merely wide is rarely two.
CUT_COST = -0.6
WIDE = 1.1
#: An atom at least this share of its height wide may be two digits that touch anywhere:
#: every cut point is tried. Below it, only cuts through a thin link (THIN_LINK).
PAIR_WIDTH = 0.9
#: In an atom that is not wide, a cut goes through at most this many stroke widths of ink.
THIN_LINK = 1.5
#: Log-score of one digit made of two digit-sized atoms side by side.
MERGE_COST = -3.0
#: Log-score of one digit across a cut that crosses no strong ink: the two sides are joined
#: only by the faint edge of a stroke (two digits written close enough to touch).
FAINT_JOIN_COST = -0.2
#: Log-score added per digit: below 0 prefers fewer, surer digits.
PIECE_BONUS = -0.05
#: Digits of a number stand about equally tall; letters of a word do not (x-height letters
#: beside capitals and ascenders, about 0.5-0.7 of their height). A line whose shortest
#: piece is under this share of its tallest looks like a word ...
WORD_HEIGHT_RATIO = 0.7
#: ... and is read as a number only when the model is jointly this sure of all its digits
#: (the product of their calibrated probabilities, the not-a-digit class included).
#: Both chosen on words rendered in system fonts (slanted, bold, three styles) against
#: numbers composed of MNIST test digits (bench/touching_numbers.py), not on
#: the measurement sets.
WORD_JOINT_CONFIDENCE = 0.8


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
    """Part of an atom: in each of the atom's rows, the columns [lo, hi) (absolute). left
    and right bound the slice's ink."""

    atom: int
    lo: np.ndarray = field(repr=False, compare=False)
    hi: np.ndarray = field(repr=False, compare=False)
    left: int
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

    # Slices: whole atoms, or the parts of a wide atom between cut paths.
    pieces: list[_Slice] = []
    valleys: list[float] = []  # per slice: the ink of the cut after it
    for k, atom in enumerate(atoms):
        rows = atom.bottom - atom.top
        inside = np.isin(labels[atom.top : atom.bottom, atom.left : atom.right], atom.labels)
        paths: list[np.ndarray] = []
        if atom.width > TOUCHING_WIDTH * atom.height:
            mask = inside & strong[atom.top : atom.bottom, atom.left : atom.right]
            soft = np.where(inside, ink[atom.top : atom.bottom, atom.left : atom.right], 0.0)
            paths = _cut_paths(soft, height=max(atom.height, 0.7 * digit_height))
            crossed = [float(mask[np.arange(rows), path].sum()) for path in paths]  # strong ink cut
            if atom.width < PAIR_WIDTH * atom.height:
                # Not wide: only a cut through little ink (where two digits touch) is worth
                # asking the model about; a cut across a loop or a bar is not.
                keep = [c <= THIN_LINK * stroke for c in crossed]
                paths = [path for path, ok in zip(paths, keep, strict=True) if ok]
                crossed = [c for c, ok in zip(crossed, keep, strict=True) if ok]
            valleys += crossed
        edges = [np.zeros(rows, dtype=np.int64), *paths, np.full(rows, atom.width, dtype=np.int64)]
        cols = np.arange(atom.width)[None, :]
        for lo, hi in zip(edges, edges[1:], strict=False):
            part = inside & (cols >= lo[:, None]) & (cols < hi[:, None])
            used = np.flatnonzero(part.any(axis=0))
            left, right = (int(used[0]), int(used[-1]) + 1) if used.size else (int(lo.min()), int(lo.min()) + 1)
            pieces.append(_Slice(k, atom.left + lo, atom.left + hi, atom.left + left, atom.left + right))
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
            widest = MAX_STROKE_WIDTH if pieces[i].atom == pieces[j].atom else MAX_DIGIT_WIDTH
            if right - left > widest * max(digit_height, max(bottoms) - min(tops)):
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
    found_pixels = np.stack([prepared[k].pixels for k in usable])
    found_probs = classifier.classify(found_pixels)
    probs = np.zeros((len(runs), found_probs.shape[1]), dtype=np.float64)
    probs[usable] = found_probs
    evidence = _uncalibrated(probs, classifier, found_pixels, usable)

    # Best partition of the slices into runs: the product of digit probabilities (the
    # model's own, before calibration: where the cuts go does not depend on the version's
    # temperature, and the priors below are weighed against them), times a prior against
    # cutting an atom that is not wide (a cut) and against joining two digit-sized atoms
    # side by side or the two sides of a cut through faint ink only (a merge).
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
            if valleys[j] == 0:
                merge_cost[j] = FAINT_JOIN_COST
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
            p = float(evidence[k, :10].max()) if k in usable else 0.0
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


def _uncalibrated(probs: np.ndarray, classifier: Classifier, images: np.ndarray, usable: list[int]) -> np.ndarray:
    """The model's probabilities before the temperature the classifier applies (vision.
    calibration: softmax(log(p) / T) undone by 1 / T; each candidate's own T when the
    classifier gives one per input, ``images`` being the ``usable`` rows). Calibration is
    fitted for deciding on one digit; it sharpens (T < 1) or softens every candidate's score
    alike, and would shift the balance between the model and the segmentation priors with
    each version."""
    temperature = float(getattr(classifier, "temperature", 1.0))
    if not len(probs):
        return probs
    per_input = getattr(classifier, "input_temperatures", None)
    temperatures = np.full(len(probs), temperature)
    if per_input is not None:
        temperatures[usable] = per_input(images)
    if np.all(temperatures == temperature):
        return probs if temperature == 1.0 else temperature_apply(probs, 1.0 / temperature)
    return temperature_apply_rows(probs, 1.0 / temperatures)


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
    if _word_shaped(digits):
        return "not a number: the marks differ in height like letters and are no clear digits"
    return None


def _word_shaped(digits: list[DigitReading]) -> bool:
    """Letters read as digits: pieces of uneven height (a word's x-height letters beside its
    capitals and ascenders) that the model is not jointly sure are these digits. Each
    letter may pass the one-digit floor on its own; the number as a whole does not."""
    heights = [d.box[3] for d in digits]
    if len(digits) < 2 or min(heights) >= WORD_HEIGHT_RATIO * max(heights):
        return False
    joint = math.prod(d.confidence * (1.0 - d.no_digit_prob) for d in digits)
    return joint < WORD_JOINT_CONFIDENCE


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


def _cut_paths(cost: np.ndarray, *, height: float) -> list[np.ndarray]:
    """Where digits that touch or overlap may be cut: paths from the top row to the bottom
    row (one column per row, moving at most one column a row) that cross as few strokes as
    possible (`cost`: the atom's soft ink; see _path_dp), so a cut can slip between a
    stroke that leans over its neighbour and that neighbour, or run along the contact of
    two round digits. For each column of the middle row, the cheapest path through it is
    found by dynamic programming from the top and from the bottom; the columns where that
    cost is lowest (at least MIN_SLICE_WIDTH * height from the ends, CUT_SPACING * height
    apart, at most one per 0.35 * height of width) give the paths, in order, as the column
    of the cut in each row (the pixels left of it are on one side)."""
    rows, width = cost.shape
    margin = max(2, int(MIN_SLICE_WIDTH * height))
    if width <= 2 * margin or rows < 2:
        return []
    middle = rows // 2
    down, down_move = _path_dp(cost[: middle + 1])
    up, up_move = _path_dp(cost[middle:][::-1])
    # The cheapest path through (middle, x), its middle pixel counted once and not entered.
    through = down[-1] + up[-1] - (0.5 + INK_STEP) * cost[middle]
    smooth = ndimage.uniform_filter1d(through, size=3, mode="nearest")
    spacing = max(2, int(CUT_SPACING * height))
    candidates = [
        (smooth[x], x)
        for x in range(margin, width - margin)
        if smooth[x] <= smooth[x - 1] and smooth[x] <= smooth[x + 1]
    ]
    limit = max(1, int(math.ceil(width / (0.35 * height))))  # about one cut per narrow digit
    # A cut dearer than crossing two strokes plus most of the heaviest column's ink goes
    # through a digit, not between two.
    most = MAX_CROSSINGS + 0.75 * INK_STEP * float(cost.sum(axis=0).max())
    chosen: list[int] = []
    for value, x in sorted(candidates):
        if value > most:
            break
        if all(abs(x - c) >= spacing for c in chosen):
            chosen.append(x)
            if len(chosen) >= limit:
                break
    paths = []
    for x in sorted(chosen):
        top = _backtrack(down_move, x)
        bottom = _backtrack(up_move, x)[::-1]
        paths.append(np.concatenate([top, bottom[1:]]))
    for a, b in zip(paths, paths[1:], strict=False):  # cuts in order never cross
        np.maximum(b, a, out=b)
    return paths


#: The costs of a cut path, in strokes crossed: entering or leaving ink costs half a stroke
#: (so a cut along the contact of two round digits costs one stroke, less than across the
#: middle of a 0), each pixel of ink on the path INK_STEP (a cut along a whole stem costs
#: more than across it), each column sideways SIDE_STEP, and a diagonal step between two
#: inked pixels SLIP of a stroke (it crosses a thin diagonal stroke).
INK_STEP = 0.14
SIDE_STEP = 0.02
SLIP = 0.6
#: Strokes a cut may cross besides the ink it runs through.
MAX_CROSSINGS = 2.0


def _path_dp(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest monotone paths from row 0 to each pixel (costs above): the accumulated cost
    per pixel and the move (-1, 0, 1: the column came from x - 1, x, x + 1) that reached
    it. A sideways step also pays for the ink it slips between (the smaller of the two
    pixels it passes diagonally), so a cut cannot cross a thin diagonal stroke for free."""
    rows, width = cost.shape
    acc = np.empty((rows, width), dtype=np.float64)
    move = np.zeros((rows, width), dtype=np.int8)
    acc[0] = (0.5 + INK_STEP) * cost[0]
    above, here = cost[:-1].astype(np.float64), cost[1:].astype(np.float64)
    # The cost of each step into row y + 1, for all rows at once: straight down, from the
    # column to the left (passing (y, x) and (y + 1, x - 1)), from the column to the right.
    down = 0.5 * np.abs(here - above) + INK_STEP * here
    from_left = np.full((rows - 1, width), np.inf)
    from_left[:, 1:] = (
        SIDE_STEP + 0.5 * np.abs(here[:, 1:] - above[:, :-1]) + SLIP * np.minimum(above[:, 1:], here[:, :-1])
    ) + INK_STEP * here[:, 1:]
    from_right = np.full((rows - 1, width), np.inf)
    from_right[:, :-1] = (
        SIDE_STEP + 0.5 * np.abs(here[:, :-1] - above[:, 1:]) + SLIP * np.minimum(above[:, :-1], here[:, 1:])
    ) + INK_STEP * here[:, :-1]
    left = np.full(width, np.inf)
    right = np.full(width, np.inf)
    for y in range(1, rows):
        prev = acc[y - 1]
        stay = prev + down[y - 1]
        left[1:] = prev[:-1]
        left += from_left[y - 1]
        right[:-1] = prev[1:]
        right += from_right[y - 1]
        best = np.minimum(stay, np.minimum(left, right))
        move[y] = np.where(best == stay, 0, np.where(best == left, -1, 1))
        acc[y] = best
    return acc, move


def _backtrack(move: np.ndarray, x: int) -> np.ndarray:
    """The columns of the path that ends at (last row, x), from row 0 down."""
    path = np.empty(move.shape[0], dtype=np.int64)
    for y in range(move.shape[0] - 1, -1, -1):
        path[y] = x
        x += int(move[y, x])
    return path


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
    cols = np.arange(left, right)[None, :]
    for p in run:
        atom = atoms[p.atom]
        rows = slice(atom.top - top, atom.bottom - top)
        between = (cols >= p.lo[:, None]) & (cols < p.hi[:, None])
        keep[rows] |= between & np.isin(region[rows], atom.labels)
    rows = np.flatnonzero(keep.any(axis=1))
    cols = np.flatnonzero(keep.any(axis=0))
    if rows.size == 0:
        return None, (left, top, right, bottom)
    t, b, lft, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = np.where(keep[t:b, lft:r], ink[top + t : top + b, left + lft : left + r], 0.0).astype(np.float32)
    return crop, (left + lft, top + t, left + r, top + b)
