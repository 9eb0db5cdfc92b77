"""How much of the review loop's population can be learnt at all: the same finetune with many
more reviews than the loop's 480.

    .venv/bin/python bench/field_ceiling.py [--sizes 384 20000] [--share 0.5]

The loop's target is "half the distance to 100%" on its 120 unseen images. This trains the
finetune preset (no blend: all of the trained weights) from models/default on ``size``
images of the loop's population (bench/review_loop.py's degraded scans of MNIST training
digits, preprocessed as uploads are), drawn from digits that none of the scored sets uses,
and scores the shipped and the trained model on the 120 unseen and the 2,000 more images of
each loop seed, top digit and as served (the model's temperature, then the decision rule).
With tens of thousands of reviews the trained model shows what the population allows: the
images that are still read wrong are mostly ones no reader can tell (the script writes them
to var/field-ceiling/wrong-<seed>.png to look at). Writes var/field-ceiling/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.review_loop import MARKERS, POPULATION, REVIEWED, degraded_scan  # noqa: E402

LOOP_SEEDS = (2026, 7, 8, 11)
MORE = 2000


def preprocess_many(blobs: list[bytes]) -> list:
    from vision.preprocess import preprocess_bytes

    return [preprocess_bytes(blob).pixels for blob in blobs]


def pixels_of(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """28x28 float pixels of each upload (zeros where preprocessing rejects it) and which were kept."""
    chunks = [blobs[i : i + 500] for i in range(0, len(blobs), 500)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        pixels = [p for chunk in pool.map(preprocess_many, chunks) for p in chunk]
    kept = np.asarray([p is not None for p in pixels])
    return np.stack([p if p is not None else np.zeros((28, 28), np.float32) for p in pixels]), kept


def scored_sets(x: np.ndarray, y: np.ndarray, markers: tuple[int, ...] = MARKERS) -> dict[str, dict]:
    """The loop's 120 unseen and 2,000 more images for each seed (as bench/review_loop.py builds them)."""
    sets = {}
    for seed in LOOP_SEEDS:
        for name, set_seed, size, rows in (
            (f"unseen120-{seed}", seed, POPULATION, slice(REVIEWED, POPULATION)),
            (f"more2000-{seed}", seed + 1000, MORE, slice(0, MORE)),
        ):
            rng = np.random.default_rng(set_seed)
            index = rng.choice(len(x), size=size, replace=False)
            blobs = [degraded_scan(x[i], rng, markers=markers) for i in index]  # the same draws, in order
            pixels, kept = pixels_of(blobs[rows])
            sets[name] = {"pixels": pixels, "kept": kept, "labels": y[index[rows]], "index": index}
    return sets


def training_reviews(x: np.ndarray, y: np.ndarray, size: int, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``size`` degraded digits none of the scored sets (nor the loops' reviews) was made from, as uint8 28x28."""
    from vision.decode import pixels_to_uint8

    free = np.setdiff1d(np.arange(len(x)), used)
    rng = np.random.default_rng(90210)
    index = rng.choice(free, size=size, replace=False)
    pixels, kept = pixels_of([degraded_scan(x[i], rng) for i in index])
    return np.stack([pixels_to_uint8(p) for p in pixels[kept]]), y[index[kept]]


def score(model_path: Path, temperature: float, sets: dict) -> dict:
    import keras

    from vision.calibration import temperature_apply
    from vision.infer import decide_rows

    model = keras.models.load_model(model_path, compile=False)
    out = {}
    for name, s in sets.items():
        probs = model.predict(s["pixels"][..., None], batch_size=1000, verbose=0)
        top = np.argmax(probs[:, :10], axis=1)
        decisions = decide_rows(temperature_apply(probs, temperature))
        served = np.asarray([-1 if d.digit is None else d.digit for d in decisions])
        served[~s["kept"]] = -1
        out[name] = {
            "top_digit": round(float(np.mean((top == s["labels"]) & s["kept"])), 4),
            "served": round(float(np.mean(served == s["labels"])), 4),
            "wrong": np.flatnonzero(served != s["labels"]).tolist(),
        }
    return out


def wrong_sheet(sets: dict, scores: dict, folder: Path) -> None:
    """The 120s' images the big model still reads wrong, as the model sees them, with label and answer."""
    from PIL import Image, ImageDraw

    for seed in LOOP_SEEDS:
        name = f"unseen120-{seed}"
        wrong = scores[name]["wrong"]
        if not wrong:
            continue
        cell = 84
        sheet = Image.new("L", (cell * min(len(wrong), 8), (cell + 14) * ((len(wrong) + 7) // 8)), 255)
        draw = ImageDraw.Draw(sheet)
        for k, i in enumerate(wrong):
            image = Image.fromarray((255 - sets[name]["pixels"][i] * 255).astype(np.uint8)).resize((cell, cell))
            x0, y0 = (k % 8) * cell, (k // 8) * (cell + 14)
            sheet.paste(image, (x0, y0))
            draw.text((x0 + 2, y0 + cell), f"#{i} true {sets[name]['labels'][i]}", fill=0)
        sheet.save(folder / f"wrong-{seed}.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[20000], help="reviews to train on, per run")
    parser.add_argument(
        "--markers", type=int, nargs="+", default=list(MARKERS), help="marker widths of the scored sets"
    )
    parser.add_argument(
        "--score", type=Path, action="append", default=[], help="also score this earlier model folder (repeatable)"
    )
    parser.add_argument("--share", type=float, default=0.5, help="field share of the training mix")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--preset-blend",
        action="store_true",
        help="serve the preset's blend of weights (chosen on held-out MNIST) instead of all of the trained weights",
    )
    parser.add_argument("--mnist-dir", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--start", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "field-ceiling")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args.folder.mkdir(parents=True, exist_ok=True)
    from training.data import load_mnist
    from training.train import train

    x, y, _, _ = load_mnist(args.mnist_dir)
    markers = tuple(args.markers)
    sets = scored_sets(x, y, markers)
    used = np.concatenate([s["index"] for s in sets.values()])
    start_metrics = json.loads((args.start / "metrics.json").read_text())
    results_path = args.folder / (
        "results.json" if markers == MARKERS else f"results-markers{'-'.join(map(str, markers))}.json"
    )
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["shipped"] = score(args.start / "model.keras", start_metrics["calibration"]["temperature"], sets)
    for folder in args.score:  # e.g. the 20,000-review model on a population of other markers
        metrics = json.loads((folder / "metrics.json").read_text())
        results[folder.name] = score(folder / "model.keras", metrics["calibration"]["temperature"], sets)
    suffix = "-blend" if args.preset_blend else ""
    for size in args.sizes:
        field_x, field_y = training_reviews(x, y, size, used)
        snapshot = args.folder / f"reviews-{size}.npz"
        np.savez(snapshot, x_train=field_x, y_train=field_y, id_train=np.arange(1, len(field_y) + 1))
        started = time.monotonic()
        metrics = train(
            preset="finetune",
            output_dir=args.folder / f"model-{size}{suffix}",
            mnist_dir=args.mnist_dir,
            field_set=snapshot,
            with_reviews=True,
            init_model=args.start / "model.keras",
            overrides={
                "field_share": args.share,
                "epochs": args.epochs,
                **({} if args.preset_blend else {"blend": [1.0]}),
            },
        )
        run = score(args.folder / f"model-{size}{suffix}" / "model.keras", metrics["calibration"]["temperature"], sets)
        results[f"reviews-{size}{suffix}"] = {
            "reviews": int(len(field_y)),
            "mnist_test": metrics["accuracy"],
            "blend": (metrics.get("blend") or {}).get("alpha"),
            "train_seconds": round(time.monotonic() - started),
            **run,
        }
        if not suffix:
            wrong_sheet(sets, run, args.folder)
        results_path.write_text(json.dumps(results, indent=1))
    results_path.write_text(json.dumps(results, indent=1))
    print(f"{'set':<18}" + "".join(f"{k:>16}" for k in results))
    for name in sets:
        cells = (f"{r[name]['top_digit']:>8.3f}/{r[name]['served']:.3f}" for r in results.values())
        print(f"{name:<18}" + "".join(cells))
    for key, r in results.items():
        if "mnist_test" in r:
            print(f"{key}: MNIST test {r['mnist_test']:.4f}, blend {r.get('blend')}, {r['train_seconds']} s")


if __name__ == "__main__":
    main()
