"""The LiteRT model wrapper and the decision rule. Plain Python: no Django, no TensorFlow.

The exported model takes float32 [N, 28, 28, 1] in [0, 1] and returns softmax
probabilities over 11 classes: digits 0-9, then "not a digit".
"""

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.calibration import calibrated_probabilities, field_calibration_active, input_temperatures

NO_DIGIT_CLASS = 10
# Rejection thresholds on calibrated probabilities (the version's temperature applied,
# vision.calibration): answer with a digit only when it is more likely right than wrong,
# and the image is more likely a digit than not.
NO_DIGIT_THRESHOLD = 0.5
MIN_DIGIT_CONFIDENCE = 0.5


def model_file_temperature(model: Path) -> float:
    """T from the metrics.json next to a .tflite file (1 when there is none): the temperature
    the model is served with, for tools that load a model file rather than a version."""
    try:
        metrics = json.loads((Path(model).parent / "metrics.json").read_text())
    except (OSError, ValueError):
        return 1.0
    return float((metrics.get("calibration") or {}).get("temperature") or 1.0)


class ModelLoadError(RuntimeError):
    """The model file is missing or not a usable LiteRT model."""


class DigitClassifier:
    """One LiteRT interpreter; resized to each batch size it is called with. ``temperature``
    (the version's, fitted at export) calibrates the probabilities it returns; with a fitted
    ``field_calibration`` (the version's, vision.calibration.field_calibration_fit) inputs
    that look like the reviewed field get their own temperature."""

    def __init__(
        self, path: Path, *, num_threads: int = 1, temperature: float = 1.0, field_calibration: dict | None = None
    ):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.temperature = float(temperature)
        if field_calibration_active(field_calibration):
            # The gate's 784 weights as one array now, not a list converted on every call.
            gate = field_calibration["gate"]
            weights = np.asarray(gate["weights"], np.float64)
            field_calibration = {**field_calibration, "gate": {"weights": weights, "bias": float(gate["bias"])}}
        self.field_calibration = field_calibration or None
        if not self.path.is_file():
            raise ModelLoadError(f"model file not found: {self.path}")
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"model file is not a valid LiteRT model: {self.path} ({exc})") from exc
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.num_classes = int(self._output["shape"][-1])
        self._batch_size = int(self._input["shape"][0])
        # An interpreter is not safe to call from two threads at once.
        self._lock = threading.Lock()

    def classify(self, images: np.ndarray) -> np.ndarray:
        """images: (N, 28, 28) or (N, 28, 28, 1) floats in [0, 1] -> (N, num_classes) probabilities."""
        batch = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        if len(batch) == 0:
            return np.zeros((0, self.num_classes), dtype=np.float32)
        with self._lock:
            if len(batch) != self._batch_size:
                self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
                self._interpreter.allocate_tensors()
                self._batch_size = len(batch)
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            probs = self._interpreter.get_tensor(self._output["index"]).copy()
        return calibrated_probabilities(probs, batch, temperature=self.temperature, field=self.field_calibration)

    def input_temperatures(self, images: np.ndarray) -> np.ndarray:
        """The temperature ``classify`` applies to each image (N,)."""
        batch = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
        return input_temperatures(batch, temperature=self.temperature, field=self.field_calibration)


@dataclass(frozen=True)
class Decision:
    digit: int | None
    confidence: float
    digit_probs: list[float]  # the 10 digit probabilities, renormalised to sum to 1
    no_digit_prob: float
    reason: str | None


def decide(
    probs: np.ndarray,
    *,
    no_digit_threshold: float = NO_DIGIT_THRESHOLD,
    min_confidence: float = MIN_DIGIT_CONFIDENCE,
) -> Decision:
    """Turn one row of model output into a digit or a rejection with a reason."""
    return decide_rows(
        np.asarray(probs)[np.newaxis], no_digit_threshold=no_digit_threshold, min_confidence=min_confidence
    )[0]


def decide_rows(
    probs: np.ndarray,
    *,
    no_digit_threshold: float = NO_DIGIT_THRESHOLD,
    min_confidence: float = MIN_DIGIT_CONFIDENCE,
) -> list[Decision]:
    """decide() for each row of an (N, classes) array, in a few array operations (a batch chunk)."""
    probs = np.asarray(probs, dtype=np.float64)
    digit_part = probs[:, :10]
    no_digit = probs[:, NO_DIGIT_CLASS] if probs.shape[1] > NO_DIGIT_CLASS else np.zeros(len(probs))
    digit_probs = digit_part / np.maximum(digit_part.sum(axis=1, keepdims=True), 1e-12)
    best = np.argmax(digit_probs, axis=1)
    rows = np.arange(len(probs))
    # Shown to users beside the chart of `digit_probs`, so it is the same number as its top bar.
    confidence = digit_probs[rows, best].tolist()
    # The floor applies to the share among all 11 classes: doubt about "digit at all" counts too.
    unsure = (digit_part[rows, best] < min_confidence).tolist()
    not_digit = (no_digit >= no_digit_threshold).tolist()
    rounded = np.round(digit_probs, 6).tolist()
    no_digit = no_digit.tolist()
    decisions = []
    for i, digit in enumerate(best.tolist()):
        if not_digit[i]:
            digit, reason = None, "not a digit: the image does not look like a handwritten digit"
        elif unsure[i]:
            digit, reason = None, "not sure: no digit stands out clearly"
        else:
            reason = None
        decisions.append(Decision(digit, confidence[i], rounded[i], no_digit[i], reason))
    return decisions
