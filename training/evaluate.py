"""Metrics and plots for a trained model on the MNIST test set.

Accuracy is MNIST's: argmax over the 10 digit outputs. The share of test
digits the model would call "not a digit" (argmax over all 11) is reported
separately. Plots use matplotlib's Agg backend; no TensorFlow here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

DIGITS = 10


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = DIGITS) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def metrics_build(*, probabilities: np.ndarray, labels: np.ndarray, history: list[dict], extra: dict) -> dict:
    """Accuracy, loss, per-class precision/recall and the confusion matrix, plus ``extra``."""
    labels = np.asarray(labels).astype(np.int64)
    predicted = np.argmax(probabilities[:, :DIGITS], axis=1)
    matrix = confusion_matrix(labels, predicted)
    true_p = np.diag(matrix).astype(np.float64)
    precision = true_p / np.maximum(matrix.sum(axis=0), 1)
    recall = true_p / np.maximum(matrix.sum(axis=1), 1)
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "errors": int(np.sum(predicted != labels)),
        "test_images": int(len(labels)),
        "loss": float(-np.mean(np.log(picked))),
        "not_a_digit_rate": float(np.mean(np.argmax(probabilities, axis=1) == DIGITS)),
        "precision": {str(d): float(p) for d, p in enumerate(precision)},
        "recall": {str(d): float(r) for d, r in enumerate(recall)},
        "confusion_matrix": matrix.tolist(),
        "history": history,
        **extra,
    }


def metrics_write(output_dir: Path, metrics: dict) -> Path:
    path = Path(output_dir) / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(path: Path, matrix: np.ndarray, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    shown = np.log1p(matrix)
    ax.imshow(shown, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        if n:
            ax.text(
                j,
                i,
                str(n),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shown[i, j] > shown.max() * 0.6 else "black",
            )
    ax.set_xticks(range(DIGITS))
    ax.set_yticks(range(DIGITS))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_misclassified(
    path: Path, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, limit: int = 60
) -> None:
    plt = _pyplot()
    wrong = np.flatnonzero(predicted != labels)[:limit]
    cols = 10
    rows = max(1, math.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(f"{labels[i]}→{predicted[i]}", fontsize=9)
    total = int(np.sum(predicted != labels))
    fig.suptitle(f"misclassified test images (true→predicted), {len(wrong)} shown of {total}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_training_curves(path: Path, history: list[dict]) -> None:
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["loss"] for h in history], marker="o")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    right.plot(epochs, [h["accuracy"] for h in history], marker="o", label="training (augmented, 11 classes)")
    right.plot(epochs, [h["val_accuracy"] for h in history], marker="o", label="MNIST test")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plots_write(
    output_dir: Path,
    *,
    probabilities: np.ndarray,
    labels: np.ndarray,
    images: np.ndarray,
    history: list[dict],
    metrics: dict,
) -> None:
    """confusion_matrix.png, misclassified.png and training_curves.png in ``output_dir``."""
    output_dir = Path(output_dir)
    predicted = np.argmax(probabilities[:, :DIGITS], axis=1)
    plot_confusion_matrix(
        output_dir / "confusion_matrix.png",
        np.asarray(metrics["confusion_matrix"]),
        f"MNIST test accuracy {metrics['accuracy']:.4f}",
    )
    plot_misclassified(output_dir / "misclassified.png", np.asarray(images).reshape(-1, 28, 28), labels, predicted)
    plot_training_curves(output_dir / "training_curves.png", history)


NOT_A_DIGIT = DIGITS  # the model's eleventh class; a reviewed "not a digit" is labelled 10


def _field_row(predicted: np.ndarray, labels: np.ndarray) -> dict:
    digits = labels < NOT_A_DIGIT
    n_digits, n_none = int(digits.sum()), int((~digits).sum())
    right = int(np.sum(predicted[digits] == labels[digits]))
    rejected = int(np.sum(predicted[digits] < 0))
    none_rejected = int(np.sum(predicted[~digits] < 0))
    correct = right + none_rejected
    return {
        "n": int(len(labels)),
        "accuracy": correct / len(labels) if len(labels) else None,
        "digits": n_digits,
        "digit_accuracy": right / n_digits if n_digits else None,
        "false_rejections": rejected,
        "false_rejection_rate": rejected / n_digits if n_digits else None,
        "not_a_digit": n_none,
        "not_a_digit_recall": none_rejected / n_none if n_none else None,
    }


def field_scores_build(*, probabilities: np.ndarray, predicted: np.ndarray, labels: np.ndarray, sources) -> dict:
    """Scores on reviewed uploads. ``predicted``: the decision rule's digit, or -1 for a
    rejection; ``labels``: 0-9 or 10 (not a digit). ``accuracy`` counts a digit read right
    and a non-digit rejected as correct (the gate compares it); a rejected digit is a false
    rejection and counts as wrong in ``digit_accuracy``. ECE on the (calibrated) probabilities,
    with ``ece_chance``: what a perfectly calibrated model would show on this many images by
    chance alone (mean and 90th percentile), since a field-test of a few hundred cannot tell
    an ECE of 0.02 from 0.04."""
    from vision.calibration import ece_of_calibrated, expected_calibration_error

    predicted = np.asarray(predicted, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    sources = np.asarray(list(sources), dtype=object)
    scores = _field_row(predicted, labels)
    scores["ece"] = expected_calibration_error(probabilities, labels) if len(labels) else None
    scores["ece_chance"] = ece_of_calibrated(np.asarray(probabilities).max(axis=1), draws=500) if len(labels) else None
    scores["by_source"] = {
        str(source): _field_row(predicted[sources == source], labels[sources == source])
        for source in sorted(set(sources.tolist()))
    }
    return scores


def field_scores_of(
    *,
    tflite_path: Path,
    temperature: float,
    x: np.ndarray,
    labels: np.ndarray,
    sources,
    field_calibration: dict | None = None,
) -> dict:
    """A model as served (LiteRT, its temperature and field calibration, the decision rule)
    scored on reviewed inputs (uint8 (N, 28, 28)): field_scores_build's dict."""
    from vision.infer import DigitClassifier, decide_rows

    classifier = DigitClassifier(tflite_path, temperature=temperature, field_calibration=field_calibration)
    probs = classifier.classify(np.asarray(x, np.float32) / 255.0)
    predicted = [-1 if d.digit is None else d.digit for d in decide_rows(probs)] if len(probs) else []
    return field_scores_build(probabilities=probs, predicted=np.asarray(predicted), labels=labels, sources=sources)


def field_calibration_of(
    *,
    tflite_path: Path,
    temperature: float,
    x: np.ndarray,
    labels: np.ndarray,
    field_x: np.ndarray,
    general_x: np.ndarray,
) -> dict:
    """vision.calibration.field_calibration_fit for a model file: its uncalibrated
    probabilities on the fit reviews (uint8 ``x``, ``labels``), the gate between ``field_x``
    (every field-train review) and ``general_x`` (its general calibration set)."""
    from vision.calibration import field_calibration_fit
    from vision.infer import DigitClassifier

    probs = DigitClassifier(tflite_path).classify(np.asarray(x, np.float32) / 255.0)
    return field_calibration_fit(
        probs=probs,
        labels=labels,
        images=np.asarray(x),
        field_images=np.asarray(field_x),
        general_images=np.asarray(general_x),
        t_general=temperature,
    )
