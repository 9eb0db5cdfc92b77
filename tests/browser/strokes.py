"""Turn a 28x28 MNIST digit into pen strokes, so a browser test can draw a real handwritten digit.

Threshold the ink, thin it to a one-pixel skeleton (Zhang-Suen), then walk neighbouring skeleton
pixels greedily into polylines. Plain numpy; the points are in 28x28 pixel units (centres).
"""

import numpy as np

# The 8 neighbours in Zhang-Suen order P2..P9: north, then clockwise.
RING = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]
NEIGHBOURS = [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)]  # 4-neighbours first

Point = tuple[float, float]


def ink_mask(digit: np.ndarray, *, threshold: int = 100) -> np.ndarray:
    """White-on-black MNIST pixels -> a boolean ink mask with a one-pixel empty border."""
    mask = np.zeros((digit.shape[0] + 2, digit.shape[1] + 2), dtype=bool)
    mask[1:-1, 1:-1] = digit > threshold
    return mask


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean mask whose border is empty."""
    skeleton = mask.copy()
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            remove = []
            for r, c in zip(*np.nonzero(skeleton), strict=True):
                p = [bool(skeleton[r + dr, c + dc]) for dr, dc in RING]
                count = sum(p)
                transitions = sum(not p[i] and p[(i + 1) % 8] for i in range(8))
                if not (2 <= count <= 6 and transitions == 1):
                    continue
                p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
                if step == 0:
                    first, second = p2 and p4 and p6, p4 and p6 and p8
                else:
                    first, second = p2 and p4 and p8, p2 and p6 and p8
                if not first and not second:
                    remove.append((r, c))
            for r, c in remove:
                skeleton[r, c] = False
            changed = changed or bool(remove)
    return skeleton


def trace(skeleton: np.ndarray, *, min_points: int = 2) -> list[list[tuple[int, int]]]:
    """Walk the skeleton into polylines of (row, col): start at loose ends, keep the direction
    where possible, close loops, and join each new branch to the ink it grows from."""
    on = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}

    def neighbours(pixel):
        r, c = pixel
        return [(r + dr, c + dc) for dr, dc in NEIGHBOURS if (r + dr, c + dc) in on]

    unvisited = set(on)
    lines = []
    while unvisited:
        ends = sorted(p for p in unvisited if len(neighbours(p)) <= 1)
        attached = sorted(p for p in unvisited if any(n not in unvisited for n in neighbours(p)))
        start = (attached or ends or sorted(unvisited))[0]  # a branch of drawn ink, else a loose end
        line = [n for n in neighbours(start) if n not in unvisited][:1] + [start]
        unvisited.discard(start)
        current, heading = start, None
        while True:
            options = [n for n in neighbours(current) if n in unvisited]
            if not options:
                first = line[0]
                if len(line) > 3 and first in neighbours(current):
                    line.append(first)  # close a loop (0, 6, 8, 9)
                break
            if heading is not None:
                options.sort(key=lambda n: -((n[0] - current[0]) * heading[0] + (n[1] - current[1]) * heading[1]))
            nxt = options[0]
            heading = (nxt[0] - current[0], nxt[1] - current[1])
            line.append(nxt)
            unvisited.discard(nxt)
            current = nxt
        if len(line) >= min_points or not lines:
            lines.append([(r - 1, c - 1) for r, c in line])  # undo the border
    return lines


def thin_out(line: list, every: int) -> list:
    """Every `every`-th point and the last one: fewer pointer moves, the same shape at this pen width."""
    return line[::every] + ([line[-1]] if (len(line) - 1) % every else [])


def digit_strokes(digit: np.ndarray, *, every: int = 2) -> list[list[Point]]:
    """Polylines of (x, y) in 28x28 units (pixel centres) that trace the digit's skeleton."""
    return [[(c + 0.5, r + 0.5) for r, c in thin_out(line, every)] for line in trace(thin(ink_mask(digit)))]


def scale_strokes(strokes: list[list[Point]], *, left: float, top: float, width: float, height: float):
    """Map 28x28 units onto a box on the page (a canvas's bounding box)."""
    return [[(left + x * width / 28.0, top + y * height / 28.0) for x, y in line] for line in strokes]
