"""The number reader on numbers composed from the MNIST TEST split (t10k): digits apart,
touching and overlapping, on paper, a transparent canvas and a grainy photo.

    .venv/bin/python bench/touching_numbers.py [--mnist data/mnist] [--count 200] [--seed 1]
        [--model FILE] [--list]

A check of the segmentation that does not tune on numbers-dev: each number has 2-6 digits of
the 10,000 test digits (never trained on), each cropped to its ink and scaled to 60-100 px
high (every digit of a number within 15% of the others), on a slightly varying baseline.
Scenarios (each `--count` numbers per style):

- `apart`: gaps of 0.05-0.35 of the height between the ink of neighbours;
- `touching`: every pair slid together until their ink touches (one blob);
- `overlapping`: every pair slid 3-12% of the height further than touching, so the
  strokes cross and the boxes overlap;
- `mixed`: each pair apart, touching or overlapping at random.

Styles: `paper` (dark ink on white PNG), `canvas` (black ink on a transparent canvas, PNG),
`photo` (grey paper with a lighting gradient and grain, JPEG quality 80). Plain Python, no
Django: the API's decoding, segmentation, preprocessing and decision rule. Prints a
Markdown table of numbers read exactly, per scenario and style.
"""

import argparse
import io
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision.decode import decode_image  # noqa: E402
from vision.idx import read_idx  # noqa: E402
from vision.infer import DigitClassifier, model_file_temperature  # noqa: E402
from vision.segment import read_number  # noqa: E402

SCENARIOS = ("apart", "touching", "overlapping", "mixed")
STYLES = ("paper", "canvas", "photo")
#: Ink above this level counts when sliding digits together.
INK_LEVEL = 96


def glyph(digit: np.ndarray, height: int) -> np.ndarray:
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    width = max(1, round(crop.width * height / crop.height))
    return np.asarray(crop.resize((width, height), Image.Resampling.BICUBIC))


def compose(glyphs: list[np.ndarray], spacing: list[str], rng: np.random.Generator) -> np.ndarray:
    """The glyphs side by side on one ink array (ink high): each placed after the previous
    with the spacing asked for ("apart", "touching", "overlapping")."""
    height = max(g.shape[0] for g in glyphs)
    margin = height // 2
    total = sum(g.shape[1] for g in glyphs) + height * len(glyphs)
    ink = np.zeros((height + 2 * margin + height // 4, total + 2 * margin), dtype=np.uint8)
    x = margin
    for k, g in enumerate(glyphs):
        h, w = g.shape
        bottom = margin + height + int(rng.integers(0, height // 8 + 1))
        top = bottom - h
        if k:
            mode = spacing[k - 1]
            # For each row of the glyph: how far its leftmost ink may go before it meets the
            # ink already placed (right edge of the placed ink in that row).
            placed = ink[top:bottom] >= INK_LEVEL
            mine = g >= INK_LEVEL
            right = np.where(placed.any(axis=1), placed.shape[1] - 1 - np.argmax(placed[:, ::-1], axis=1), -(10**6))
            left = np.where(mine.any(axis=1), np.argmax(mine, axis=1), 10**6)
            touch_x = int(np.max(right - left)) + 1  # the smallest x where no row overlaps
            if mode == "apart":
                x = touch_x + round(rng.uniform(0.05, 0.35) * height)
            elif mode == "touching":
                x = touch_x - 1
            else:
                x = touch_x - 1 - round(rng.uniform(0.03, 0.12) * height)
            x = max(x, margin)
        region = ink[top:bottom, x : x + w]
        np.maximum(region, g, out=region)
        x += w
    cols = np.flatnonzero(ink.any(axis=0))
    return ink[:, : cols[-1] + 1 + margin]


def styled(ink: np.ndarray, style: str, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    if style == "paper":
        Image.fromarray(255 - ink).save(buffer, format="PNG")
    elif style == "canvas":
        rgba = np.zeros((*ink.shape, 4), dtype=np.uint8)
        rgba[..., 3] = ink
        Image.fromarray(rgba).save(buffer, format="PNG")
    else:
        h, w = ink.shape
        paper = 200 + 30 * np.linspace(0, 1, w)[None, :] + 10 * np.linspace(0, 1, h)[:, None]
        grey = paper * (1 - 0.75 * ink / 255.0) + rng.normal(0, 6, ink.shape)
        rgb = np.clip(grey, 0, 255).astype(np.uint8)[..., None] * np.array([1.0, 0.97, 0.9])
        Image.fromarray(rgb.astype(np.uint8)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def numbers(images, labels, *, scenario: str, count: int, seed: int):
    """(label, ink array) for `count` numbers of the scenario, reproducible from the seed."""
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario)])
    for _ in range(count):
        n = int(rng.integers(2, 7))
        picks = rng.integers(0, len(images), size=n)
        base = int(rng.integers(60, 101))
        glyphs = [glyph(images[i], max(20, round(base * rng.uniform(0.87, 1.0)))) for i in picks]
        if scenario == "mixed":
            spacing = list(rng.choice(["apart", "touching", "overlapping"], size=n - 1))
        else:
            spacing = [scenario] * (n - 1)
        yield "".join(str(int(labels[i])) for i in picks), compose(glyphs, spacing, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--count", type=int, default=200, help="Numbers per scenario and style.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default" / "model.tflite")
    parser.add_argument(
        "--temperature",
        type=float,
        help="Calibration temperature (default: the model's, from the metrics.json beside it, as served).",
    )
    parser.add_argument("--scenario", choices=SCENARIOS, action="append", help="Only these scenarios.")
    parser.add_argument("--list", action="store_true", help="List the numbers not read exactly.")
    parser.add_argument("--save", type=Path, help="Write the images not read exactly into this folder.")
    args = parser.parse_args()

    images = read_idx(args.mnist / "t10k-images-idx3-ubyte")
    labels = read_idx(args.mnist / "t10k-labels-idx1-ubyte")
    temperature = args.temperature if args.temperature is not None else model_file_temperature(args.model)
    classifier = DigitClassifier(args.model, temperature=temperature)
    print(f"model {args.model} (T = {temperature:.3f})")
    right: dict[tuple[str, str], int] = defaultdict(int)
    total: dict[tuple[str, str], int] = defaultdict(int)
    started = time.perf_counter()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    for scenario in args.scenario or SCENARIOS:
        for k, (label, ink) in enumerate(numbers(images, labels, scenario=scenario, count=args.count, seed=args.seed)):
            style = STYLES[k % len(STYLES)]
            data = styled(ink, style, np.random.default_rng([args.seed, k]))
            reading = read_number(decode_image(data), classifier)
            ok = reading.text == label
            total[scenario, style] += 1
            right[scenario, style] += ok
            if not ok and args.list:
                print(f"{scenario}\t{style}\t{k}\twanted {label}\tgot {reading.text}\t{reading.reason or ''}")
            if not ok and args.save:
                suffix = "jpg" if style == "photo" else "png"
                (args.save / f"{scenario}-{k:04d}-{label}-{reading.text}.{suffix}").write_bytes(data)
    elapsed = time.perf_counter() - started

    print("| scenario | " + " | ".join(STYLES) + " | all |")
    print("| --- |" + " ---: |" * (len(STYLES) + 1))
    for scenario in args.scenario or SCENARIOS:
        cells = [f"{right[scenario, s] / max(total[scenario, s], 1):.1%}" for s in STYLES]
        n = sum(total[scenario, s] for s in STYLES)
        r = sum(right[scenario, s] for s in STYLES)
        print(f"| {scenario} | " + " | ".join(cells) + f" | **{r / n:.1%}** ({r}/{n}) |")
    n, r = sum(total.values()), sum(right.values())
    print(f"\nNumbers read exactly: {r}/{n} ({r / n:.1%}) in {elapsed:.1f} s.")


if __name__ == "__main__":
    main()
