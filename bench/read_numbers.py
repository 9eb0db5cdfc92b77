"""The number reader (vision.segment.read_number, what POST /api/read runs) on a labelled
folder: share of numbers read exactly and of words rejected, by scenario.

    .venv/bin/python bench/read_numbers.py ../shared/numbers-dev [--model models/default/model.tflite]
        [--list] [--scenario num_paper_photo]

The folder's labels.csv has `file,label,scenario`: a label of digits is read right when the
text is exactly that string (every digit right, none missing or extra); `none` is a word,
right when rejected. Plain Python, no Django: the same decoding, segmentation,
preprocessing and decision rule as the API. Prints a Markdown table.
"""

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vision.decode import ImageDecodeError, decode_image  # noqa: E402
from vision.infer import DigitClassifier, model_file_temperature  # noqa: E402
from vision.segment import read_number  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default" / "model.tflite")
    parser.add_argument(
        "--temperature",
        type=float,
        help="Calibration temperature (default: the model's, from the metrics.json beside it, as served).",
    )
    parser.add_argument("--list", action="store_true", help="List the images whose outcome is not the wanted one.")
    parser.add_argument("--scenario", help="Only this scenario (prefix).")
    args = parser.parse_args()

    with open(args.directory / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if not args.scenario or r["scenario"].startswith(args.scenario)]
    temperature = args.temperature if args.temperature is not None else model_file_temperature(args.model)
    classifier = DigitClassifier(args.model, temperature=temperature)
    print(f"model {args.model} (T = {temperature:.3f})")
    right = defaultdict(int)
    rejected = defaultdict(int)
    total = defaultdict(int)
    misses = []
    started = time.perf_counter()
    for row in rows:
        label = row["label"].strip().lower()
        word = label in ("none", "")
        try:
            reading = read_number(decode_image((args.directory / row["file"]).read_bytes()), classifier)
            text, reason = reading.text, reading.reason
        except ImageDecodeError as exc:
            text, reason = None, f"decode error: {exc}"
        scenario = row["scenario"]
        total[scenario] += 1
        rejected[scenario] += text is None
        ok = text is None if word else text == label
        right[scenario] += ok
        if not ok:
            misses.append((row["file"], scenario, label, text, reason))
    elapsed = time.perf_counter() - started

    print("| scenario | images | right | share right | rejected |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for scenario in sorted(total):
        n = total[scenario]
        print(f"| {scenario} | {n} | {right[scenario]} | {right[scenario] / n:.1%} | {rejected[scenario]} |")
    numbers = [s for s in total if s.startswith("num_")]
    if numbers:
        n = sum(total[s] for s in numbers)
        r = sum(right[s] for s in numbers)
        print(f"| **numbers (num_\\*)** | {n} | {r} | **{r / n:.1%}** | {sum(rejected[s] for s in numbers)} |")
    print(f"\n'right': numbers read exactly, words rejected. {len(rows)} images in {elapsed:.1f} s.")
    if args.list:
        for file, scenario, label, text, reason in misses:
            print(f"{file}\t{scenario}\twanted {label}\tgot {text}\t{reason or ''}")


if __name__ == "__main__":
    main()
