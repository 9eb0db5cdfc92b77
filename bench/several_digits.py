"""How the one-digit reader treats numbers: share rejected as "several digits", and
single-digit tight crops still read right.

    .venv/bin/python bench/several_digits.py ../shared/numbers-dev [--model models/default/model.tflite]
        [--list] [--timing]

The folder's labels.csv has `file,label,scenario`: a label of two or more digits is a
number (must be rejected as several digits), one digit is a single digit (must be read
right), `none` is a word (counted apart). Plain Python, no Django: the same preprocessing
and decision rule as the API. --timing also prints preprocess_images' cost per image on a
stack of 28x28 MNIST-style PNGs (the batch path).
"""

import argparse
import csv
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision.decode import ImageDecodeError, decode_image  # noqa: E402
from vision.infer import DigitClassifier, decide_rows  # noqa: E402
from vision.preprocess import preprocess_bytes  # noqa: E402
from vision.stack import preprocess_images  # noqa: E402

SEVERAL = "several digits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default" / "model.tflite")
    parser.add_argument("--list", action="store_true", help="List the images whose outcome is not the wanted one.")
    parser.add_argument("--timing", action="store_true", help="Also time preprocess_images on 28x28 PNGs.")
    args = parser.parse_args()

    with open(args.directory / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    outcomes = []  # (row, kind, outcome)
    pixels, pending = [], []
    for row in rows:
        label = row["label"].strip().lower()
        kind = "word" if label in ("none", "") else ("number" if len(label) > 1 else "digit")
        try:
            result = preprocess_bytes((args.directory / row["file"]).read_bytes())
        except ImageDecodeError as exc:
            outcomes.append((row, kind, f"decode error: {exc}"))
            continue
        if result.rejected:
            outcomes.append((row, kind, result.reason))
        else:
            pixels.append(result.pixels)
            pending.append((row, kind))
    if pixels:
        probs = DigitClassifier(args.model).classify(np.stack(pixels))
        for (row, kind), decision in zip(pending, decide_rows(probs), strict=True):
            outcomes.append((row, kind, str(decision.digit) if decision.digit is not None else decision.reason))

    by_scenario: dict[str, Counter] = defaultdict(Counter)
    for row, kind, outcome in outcomes:
        counts = by_scenario[row["scenario"]]
        counts["n"] += 1
        counts["several"] += outcome.startswith(SEVERAL)
        counts["right"] += kind == "digit" and outcome == row["label"].strip()
        counts["rejected"] += not outcome.isdigit()
    print(f"{'scenario':<24} {'n':>4} {'several digits':>16} {'read right':>12} {'rejected':>10}")
    for name, c in sorted(by_scenario.items()):
        print(f"{name:<24} {c['n']:>4} {c['several']:>16} {c['right']:>12} {c['rejected']:>10}")
    for kind in ("number", "digit", "word"):
        mine = [(row, outcome) for row, k, outcome in outcomes if k == kind]
        if not mine:
            continue
        several = sum(outcome.startswith(SEVERAL) for _, outcome in mine)
        right = sum(outcome == row["label"].strip() for row, outcome in mine)
        rejected = sum(not outcome.isdigit() for _, outcome in mine)
        print(
            f"{kind + 's':<8} {len(mine):>4}: several digits {several / len(mine):.1%} ({several}), "
            f"read right {right / len(mine):.1%} ({right}), rejected {rejected / len(mine):.1%} ({rejected})"
        )
    if args.list:
        for row, kind, outcome in outcomes:
            wanted = outcome.startswith(SEVERAL) if kind == "number" else outcome == row["label"].strip()
            if kind != "word" and not wanted:
                print(f"{row['file']} {row['scenario']} {row['label']}: {outcome}")
    if args.timing:
        print(f"preprocess_images: {stack_cost() * 1e3:.3f} ms per 28x28 image")


def stack_cost(repeats: int = 5) -> float:
    """Best-of seconds per image of preprocess_images on the MNIST sample (28x28 grey)."""
    import io

    from PIL import Image

    digits = np.load(ROOT / "tests" / "fixtures" / "mnist_test_sample.npz")["images"]
    blobs = []
    for digit in np.tile(digits, (34, 1, 1))[:1000]:
        buffer = io.BytesIO()
        Image.fromarray(digit).save(buffer, format="PNG")
        blobs.append(buffer.getvalue())
    images = [decode_image(blob) for blob in blobs]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        preprocess_images(images)
        best = min(best, time.perf_counter() - start)
    return best / len(images)


if __name__ == "__main__":
    main()
