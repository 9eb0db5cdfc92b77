"""Fit a model's temperature on held-out data at export, and write it to metrics.json.

The held-out set: MNIST training digits kept out of training (``holdout_split``), rendered
uploads (typed digits and "not a digit" images, as training/negatives.py makes them, from a
seed of their own so that none is a training image), and the reviewed field-train inputs
when there are some (refit with every field-trained model). Never /work/shared: that is
where calibration is measured. Plain numpy plus LiteRT; no Django.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from training import datasets
from vision.calibration import CALIBRATION_SET_FILE, calibration_report, temperature_fit

logger = logging.getLogger(__name__)

CALIBRATION_SEED = 4242  # rendered calibration images: a stream apart from the training extras (42)
HOLDOUT_SEED = 7


def holdout_split(n: int, holdout: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out) of MNIST's training images: a fixed permutation, whatever the run's seed."""
    order = np.random.default_rng(HOLDOUT_SEED).permutation(n)
    return np.sort(order[holdout:]), np.sort(order[:holdout])


def calibration_set_build(
    *,
    x_holdout: np.ndarray,
    y_holdout: np.ndarray,
    cache_dir: Path | None,
    extras_fraction: float,
    field_x: np.ndarray | None = None,
    field_y: np.ndarray | None = None,
    on_progress: datasets.Made | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out MNIST + rendered uploads (cached like the training extras) + field-train: uint8 images, labels."""
    xs, ys = [x_holdout.astype(np.uint8)], [y_holdout.astype(np.uint8)]
    counts = datasets.extras_scaled(datasets.DEFAULT_EXTRAS, extras_fraction)
    if sum(counts.values()):
        x_extra, y_extra = datasets.extras_load(
            counts=counts, seed=CALIBRATION_SEED, cache_dir=cache_dir, processes=1, on_progress=on_progress
        )
        xs.append(x_extra)
        ys.append(y_extra)
    if field_x is not None and len(field_x):
        xs.append(field_x.astype(np.uint8))
        ys.append(field_y.astype(np.uint8))
    return np.concatenate(xs), np.concatenate(ys)


def calibration_set_write(directory: Path, *, x: np.ndarray) -> Path:
    """The general calibration images (uint8 (N, 28, 28)) next to the model: a field
    calibration's domain gate (vision.calibration.field_calibration_fit) is fitted against them."""
    path = Path(directory) / CALIBRATION_SET_FILE
    np.savez_compressed(path, x=np.asarray(x, dtype=np.uint8))
    return path


def probabilities_of(tflite_path: Path, x: np.ndarray) -> np.ndarray:
    from training.export import tflite_predict

    return tflite_predict(tflite_path, (np.asarray(x, np.float32) / 255.0)[..., None])


def model_calibrate(*, tflite_path: Path, x: np.ndarray, y: np.ndarray) -> dict:
    """Fit T on (x, y) for the exported model; the report metrics.json keeps as "calibration"."""
    probs = probabilities_of(tflite_path, x)
    temperature = temperature_fit(probs, y)
    report = calibration_report(probs, y, temperature=temperature)
    logger.info(
        "temperature %.3f on %d held-out images: ECE %.4f -> %.4f",
        temperature,
        len(y),
        report["ece_before"],
        report["ece"],
    )
    return report


def main(argv: list[str] | None = None) -> None:
    """Fit T for an exported model folder (the shipped default: ``python -m training.calibrate``)."""
    import argparse

    from training.data import load_mnist

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("models/default"))
    parser.add_argument("--mnist-dir", type=Path, default=Path("data/mnist"))
    parser.add_argument("--holdout", type=int, default=2000, help="MNIST training images in the fit set")
    parser.add_argument("--extras-fraction", type=float, default=0.1, help="rendered uploads (share)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    x_mnist, y_mnist, _, _ = load_mnist(args.mnist_dir)
    _, held = holdout_split(len(x_mnist), args.holdout)
    x, y = calibration_set_build(
        x_holdout=x_mnist[held],
        y_holdout=y_mnist[held],
        cache_dir=args.mnist_dir.parent / "generated",
        extras_fraction=args.extras_fraction,
    )
    report = model_calibrate(tflite_path=args.model_dir / "model.tflite", x=x, y=y)
    report["fit_set"] = (
        f"{args.holdout} MNIST training images (the shipped model saw them in training) and "
        f"{len(y) - args.holdout} rendered uploads (seed {CALIBRATION_SEED})"
    )
    calibration_set_write(args.model_dir, x=x)
    path = args.model_dir / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["calibration"] = report
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(f"T = {report['temperature']:.4f}; ECE on the fit set {report['ece_before']:.4f} -> {report['ece']:.4f}")


if __name__ == "__main__":
    main()
