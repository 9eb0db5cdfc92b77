"""How the one-digit path reads tight crops and low resolution: digits cut to their ink (or
with a thin margin), 8-64 px high, both polarities, clean PNG and grainy JPEG.

    .venv/bin/python bench/tight_crops.py [--numbers-dev ../shared/numbers-dev] [--model FILE]

Sets: the MNIST sample digits of the tests (tests/images.py: tight_crop), and scikit-learn's
bundled handwritten digits (UCI optdigits: 1,797 8x8 digits by 43 writers who are not MNIST's,
each filling its frame), 200 of them drawn at 8, 12 and 16 px with grain. With
--numbers-dev, also the `tight_*` scenarios of that folder. Plain Python, no Django: the
API's preprocessing and decision rule; prints the share read right per set and the
preprocessing rejections.
"""

import argparse
import csv
import gzip
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.images import encode, ink_tight, mnist_sample, tight_crop  # noqa: E402
from vision.infer import DigitClassifier, decide_rows  # noqa: E402
from vision.preprocess import preprocess_bytes  # noqa: E402


def optdigits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as 8-bit ink arrays (ink high) and labels."""
    import sklearn

    path = Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as fh:
        raw = np.loadtxt(fh, delimiter=",")
    return np.round(raw[:, :64].reshape(-1, 8, 8) * 255 / 16).astype(np.uint8), raw[:, 64].astype(int)


def grainy(ink: np.ndarray, height: int, style: str, fmt: str, rng: np.random.Generator) -> bytes:
    """A digit that fills its frame, drawn `height` px high with paper grain."""
    crop = Image.fromarray(ink)
    width = max(1, round(crop.width * height / crop.height))
    a = np.asarray(crop.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    background, ink_level = (0.9, 0.2) if style == "paper" else (0.15, 0.9)
    grey = background + (ink_level - background) * a + rng.normal(0.0, 0.04, a.shape)
    image = Image.fromarray(np.round(np.clip(grey, 0.0, 1.0) * 255).astype(np.uint8))
    return encode(image, fmt, **({"quality": 80} if fmt == "JPEG" else {}))


def sets(numbers_dev: Path | None) -> dict[str, list[tuple[bytes, int]]]:
    rng = np.random.default_rng(0)
    out: dict[str, list[tuple[bytes, int]]] = {}
    digits, labels = mnist_sample()
    for height in (8, 10, 12, 16, 24, 40, 64):
        for style in ("paper", "dark"):
            for margin in (0.0, 0.15):
                name = f"mnist {height:>2}px {style:<5} {'margin' if margin else 'tight'}"
                pairs = zip(digits, labels, strict=True)
                out[name] = [(tight_crop(d, height, style=style, margin=margin), int(y)) for d, y in pairs]
    inks, ys = optdigits()
    chosen = rng.permutation(len(inks))[:200]
    for height in (8, 12, 16):
        for style in ("paper", "dark"):
            for fmt in ("PNG", "JPEG"):
                out[f"optdigits {height:>2}px {style:<5} {fmt}"] = [
                    (grainy(ink_tight(inks[i]), height, style, fmt, rng), int(ys[i])) for i in chosen
                ]
    if numbers_dev is not None:
        with open(numbers_dev / "labels.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                if row["scenario"].startswith("tight_"):
                    item = ((numbers_dev / row["file"]).read_bytes(), int(row["label"]))
                    out.setdefault(f"numbers-dev {row['scenario']}", []).append(item)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers-dev", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default" / "model.tflite")
    args = parser.parse_args()
    classifier = DigitClassifier(args.model)
    print(f"{'set':<36} {'n':>4} {'read right':>16} {'rejected (preprocessing)':>26}")
    totals: dict[str, list[int]] = {}
    for name, items in sets(args.numbers_dev).items():
        results = [preprocess_bytes(data) for data, _ in items]
        kept = [i for i, r in enumerate(results) if not r.rejected]
        decisions = decide_rows(classifier.classify(np.stack([results[i].pixels for i in kept]))) if kept else []
        right = sum(d.digit == items[i][1] for i, d in zip(kept, decisions, strict=True))
        rejected = len(items) - len(kept)
        print(f"{name:<36} {len(items):>4} {right / len(items):>9.1%} ({right:>3}) {rejected:>26}")
        total = totals.setdefault(name.split(" ")[0] + " " + name.split()[1], [0, 0])
        total[0] += right
        total[1] += len(items)
    print()
    for name, (right, n) in totals.items():
        print(f"{name:<36} {n:>4} {right / n:>9.1%} ({right})")


if __name__ == "__main__":
    main()
