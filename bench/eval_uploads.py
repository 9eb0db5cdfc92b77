"""Accuracy and preprocessing speed on a labelled folder of real-world uploads.

    .venv/bin/python bench/eval_uploads.py DIR [--labels DIR/labels.csv] [--model models/default/model.tflite]
        [--markdown] [--show-errors]
    .venv/bin/python bench/eval_uploads.py --speed-only [--count 2000]

DIR holds the images and a labels.csv with the columns file,label,scenario (label `none`
for images that must be rejected). Runs the one preprocessing path and the LiteRT model
with the service's decision rule, and prints one row per scenario (digit accuracy, digits
wrongly rejected, non-digits rejected) plus the quality targets that are missed.
--speed-only times preprocess_bytes on MNIST-sized 28x28 PNGs (the batch case), in CPU
time per image, with no data folder needed. Evaluation images are for measurement only:
never copy them into the repository or train on them.
"""

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recognizer.evaluation import evaluate_directory, format_table, missed_targets  # noqa: E402
from recognizer.preprocess import preprocess_bytes  # noqa: E402


def mnist_like_pngs(count: int) -> list[bytes]:
    """28x28 grey PNGs: the MNIST test sample of the test fixtures, repeated."""
    from PIL import Image

    data = np.load(ROOT / "tests" / "fixtures" / "mnist_test_sample.npz")
    images = data["images"]
    out = []
    for i in range(count):
        buffer = io.BytesIO()
        Image.fromarray(images[i % len(images)]).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def time_preprocess(blobs: list[bytes]) -> float:
    """CPU milliseconds per image (CPU time, so other load on the machine counts less)."""
    preprocess_bytes(blobs[0])  # warm up imports
    started = time.process_time()
    for blob in blobs:
        preprocess_bytes(blob)
    return (time.process_time() - started) * 1000.0 / len(blobs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", nargs="?", type=Path, help="folder of images with labels.csv")
    parser.add_argument("--labels", type=Path, help="labels CSV (default: DIR/labels.csv)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default" / "model.tflite")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--show-errors", action="store_true", help="list every image decided wrongly")
    parser.add_argument("--speed-only", action="store_true", help="only time preprocessing of 28x28 PNGs")
    parser.add_argument("--count", type=int, default=2000, help="images for --speed-only")
    args = parser.parse_args()

    ms = time_preprocess(mnist_like_pngs(args.count))
    print(f"preprocess_bytes, 28x28 PNG: {ms:.3f} ms CPU per image ({1000.0 / ms:.0f} images/s on one core)")
    if args.speed_only:
        return 0
    if args.directory is None:
        parser.error("DIR is required unless --speed-only")

    from recognizer.inference import DigitClassifier, decide

    classifier = DigitClassifier(args.model)
    labels = args.labels or args.directory / "labels.csv"
    started = time.perf_counter()
    result = evaluate_directory(args.directory, labels, classifier.classify, decide=lambda row: decide(row).digit)
    elapsed = time.perf_counter() - started
    print(format_table(result, markdown=args.markdown))
    print(f"{result['overall']['n']} images in {elapsed:.1f} s (decode, preprocess, classify)")
    if args.show_errors:
        for item in result["items"]:
            if item["predicted"] != item["label"]:
                print(
                    f"  {item['file']} {item['scenario']}: label {item['label']}, got {item['predicted']}"
                    f" ({item['reason'] or 'wrong digit'})"
                )
    missed = missed_targets(result)
    for line in missed:
        print("MISSED:", line)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
