import json

import numpy as np
import pytest

from vision.infer import NO_DIGIT_CLASS, DigitClassifier, ModelLoadError, decide, model_file_temperature


def row(**probs) -> np.ndarray:
    values = np.zeros(11)
    for key, value in probs.items():
        values[NO_DIGIT_CLASS if key == "none" else int(key[1:])] = value
    return values


@pytest.mark.parametrize(
    ("probs", "digit", "reason"),
    [
        (row(d7=0.97, d1=0.03), 7, None),
        (row(d3=0.55, d8=0.35, none=0.10), 3, None),
        # Calibrated: a top digit at 0.45 is more likely wrong than right.
        (row(d3=0.45, d8=0.40, none=0.15), None, "not sure"),
        (row(d2=0.2, none=0.8), None, "not a digit"),
        (row(d4=0.3, d9=0.3, d1=0.3, none=0.1), None, "not sure"),
    ],
)
def test_decide_picks_a_digit_or_rejects_with_a_reason(probs, digit, reason):
    decision = decide(probs)
    assert decision.digit == digit
    assert (decision.reason is None) if reason is None else decision.reason.startswith(reason)
    assert len(decision.digit_probs) == 10
    assert abs(sum(decision.digit_probs) - 1) < 1e-5


def test_confidence_is_the_top_bar_of_the_digit_chart():
    decision = decide(row(d5=0.6, d6=0.2, none=0.2))
    assert decision.confidence == pytest.approx(max(decision.digit_probs)) == pytest.approx(0.75)


def test_classifier_refuses_a_missing_or_broken_file(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        DigitClassifier(tmp_path / "missing.tflite")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"definitely not a flatbuffer")
    with pytest.raises(ModelLoadError, match="not a valid"):
        DigitClassifier(broken)


def test_classifier_takes_any_batch_size(settings):
    classifier = DigitClassifier(settings.DEFAULT_MODEL_DIR / "model.tflite")
    for size in (1, 7, 1, 64):
        out = classifier.classify(np.zeros((size, 28, 28), dtype=np.float32))
        assert out.shape == (size, 11)
        assert np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
    assert classifier.classify(np.zeros((0, 28, 28))).shape == (0, 11)


def test_the_classifier_applies_its_temperature(tmp_path):
    from pathlib import Path

    model = Path(__file__).resolve().parents[2] / "models" / "default" / "model.tflite"
    x = np.zeros((2, 28, 28), np.float32)
    x[:, 8:20, 13:15] = 1.0  # a stroke: a 1
    raw = DigitClassifier(model).classify(x)
    sharp = DigitClassifier(model, temperature=0.5).classify(x)
    assert (sharp.argmax(axis=1) == raw.argmax(axis=1)).all()
    assert (sharp.max(axis=1) > raw.max(axis=1)).all()


def test_the_classifier_gives_field_like_inputs_the_field_temperature():
    from pathlib import Path

    from vision.calibration import row_temperatures, temperature_apply_rows

    model = Path(__file__).resolve().parents[2] / "models" / "default" / "model.tflite"
    x = np.zeros((2, 28, 28), np.float32)
    x[:, 8:20, 13:15] = 1.0
    x[1] += 0.3  # a grey background: the only pixels this gate reads
    gate = {"weights": [0.0] * 784, "bias": -40.0}
    gate["weights"][0] = 200.0  # the top-left pixel: 0 on the first image, 0.3 on the second
    field = {"t_general": 0.6, "t_field": 1.5, "gate": gate}
    classifier = DigitClassifier(model, temperature=0.6, field_calibration=field)
    temps = classifier.input_temperatures(x)
    assert temps == pytest.approx(
        [0.6, row_temperatures(np.array([1 / (1 + np.exp(-20))]), t_general=0.6, t_field=1.5)[0]]
    )
    assert np.allclose(
        classifier.classify(x), temperature_apply_rows(DigitClassifier(model).classify(x), temps), atol=1e-6
    )


@pytest.mark.parametrize(
    ("metrics", "temperature"),
    [({"calibration": {"temperature": 0.56}}, 0.56), ({"accuracy": 0.99}, 1.0), (None, 1.0), ("{broken", 1.0)],
    ids=["calibrated", "no calibration", "no metrics.json", "unreadable"],
)
def test_a_model_files_temperature_comes_from_its_metrics(tmp_path, metrics, temperature):
    if metrics is not None:
        text = metrics if isinstance(metrics, str) else json.dumps(metrics)
        (tmp_path / "metrics.json").write_text(text)
    assert model_file_temperature(tmp_path / "model.tflite") == temperature
