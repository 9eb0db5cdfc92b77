import json

import numpy as np

from training.evaluate import metrics_build, metrics_write, plots_write


def _probabilities(predicted, classes=11):
    probs = np.full((len(predicted), classes), 0.01, np.float32)
    probs[np.arange(len(predicted)), predicted] = 0.9
    return probs


def test_metrics_use_only_the_digit_outputs_for_accuracy():
    labels = np.array([0, 1, 2, 3])
    probs = _probabilities(np.array([0, 1, 10, 4]))  # 10 = "not a digit": falls back to the best digit
    probs[2, 2] = 0.05
    metrics = metrics_build(probabilities=probs, labels=labels, history=[], extra={"seed": 3})
    assert metrics["accuracy"] == 0.75 and metrics["errors"] == 1
    assert metrics["not_a_digit_rate"] == 0.25
    assert metrics["confusion_matrix"][3][4] == 1 and metrics["recall"]["3"] == 0.0
    assert metrics["precision"]["0"] == 1.0 and metrics["seed"] == 3


def test_metrics_and_plots_are_written(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 200)
    predicted = np.where(rng.random(200) < 0.9, labels, (labels + 1) % 10)
    history = [{"epoch": e, "epochs": 2, "loss": 1.0 / e, "accuracy": 0.9, "val_accuracy": 0.95} for e in (1, 2)]
    metrics = metrics_build(probabilities=_probabilities(predicted), labels=labels, history=history, extra={})
    plots_write(
        tmp_path,
        probabilities=_probabilities(predicted),
        labels=labels,
        images=rng.integers(0, 255, (200, 28, 28), dtype=np.uint8),
        history=history,
        metrics=metrics,
    )
    metrics_write(tmp_path, metrics)
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    for name in ("confusion_matrix.png", "misclassified.png", "training_curves.png"):
        assert (tmp_path / name).stat().st_size > 1000
