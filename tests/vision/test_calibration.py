import numpy as np
import pytest

from vision.calibration import (
    calibrated_probabilities,
    calibration_report,
    domain_gate_fit,
    domain_score,
    ece_of_calibrated,
    expected_calibration_error,
    field_calibration_fit,
    field_temperature_fit,
    input_temperatures,
    reliability_bins,
    row_temperatures,
    temperature_apply,
    temperature_apply_rows,
    temperature_fit,
)


def synthetic(*, temperature: float, n: int = 4000, classes: int = 11, seed: int = 0):
    """Labels drawn from calibrated probabilities, then shown at ``temperature``: T > 1
    makes them under-confident (like label smoothing), T < 1 over-confident."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3.0, size=(n, classes))
    true = np.exp(logits - logits.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(classes, p=row) for row in true])
    return temperature_apply(true, temperature), labels


@pytest.mark.parametrize("shown_at", [2.0, 0.5], ids=["under-confident", "over-confident"])
def test_the_fitted_temperature_undoes_the_distortion_and_lowers_ece(shown_at):
    probs, labels = synthetic(temperature=shown_at)
    fitted = temperature_fit(probs, labels)
    assert fitted == pytest.approx(1.0 / shown_at, rel=0.15)
    before = expected_calibration_error(probs, labels)
    after = expected_calibration_error(temperature_apply(probs, fitted), labels)
    assert before > 0.05 and after < 0.03 and after < before / 3


def test_weights_let_a_small_population_count_as_much_as_a_large_one():
    # 4,000 rows shown at 2.0 and 400 shown at 0.5: unweighted, the large population sets T;
    # weighted to half each, T lands between the two populations' own.
    large, large_labels = synthetic(temperature=2.0)
    small, small_labels = synthetic(temperature=0.5, n=400, seed=1)
    probs, labels = np.concatenate([large, small]), np.concatenate([large_labels, small_labels])
    weights = np.concatenate([np.full(4000, 0.5 / 4000), np.full(400, 0.5 / 400)])
    plain, weighted = temperature_fit(probs, labels), temperature_fit(probs, labels, weights)
    assert plain == pytest.approx(0.5, rel=0.2)
    assert plain < weighted < temperature_fit(small, small_labels)
    repeated = np.concatenate([large, np.repeat(small, 10, axis=0)])
    assert weighted == pytest.approx(
        temperature_fit(repeated, np.concatenate([large_labels, np.repeat(small_labels, 10)])), rel=1e-3
    )  # a weight is a repeat


def test_a_temperature_keeps_the_ranking():
    probs, _ = synthetic(temperature=1.0, n=200)
    for t in (0.3, 1.7):
        assert (temperature_apply(probs, t).argmax(axis=1) == probs.argmax(axis=1)).all()
        assert np.allclose(temperature_apply(probs, t).sum(axis=1), 1.0)


def test_temperature_one_returns_the_probabilities_unchanged():
    probs = np.array([[0.7, 0.2, 0.1]], dtype=np.float32)
    assert temperature_apply(probs, 1.0) is probs


def test_reliability_bins_count_every_image_once_and_put_certainty_in_the_last_bin():
    probs = np.array([[1.0, 0.0], [0.55, 0.45], [0.05, 0.95]])
    labels = np.array([0, 1, 1])
    table = reliability_bins(probs, labels, bins=10)
    assert sum(row["count"] for row in table) == 3
    assert table[-1]["count"] == 2 and table[-1]["accuracy"] == 1.0
    assert table[5]["count"] == 1 and table[5]["accuracy"] == 0.0


def test_the_report_holds_t_and_ece_before_and_after():
    probs, labels = synthetic(temperature=2.0, n=1000)
    report = calibration_report(probs, labels, temperature=0.5)
    assert report["temperature"] == 0.5 and report["images"] == 1000
    assert report["ece"] < report["ece_before"] and report["nll"] < report["nll_before"]
    assert len(report["reliability"]) == 15


def test_the_ece_of_a_calibrated_model_is_one_draw_of_expected_calibration_error():
    # draws=1: the simulated ECE is expected_calibration_error on the same draw of right and wrong answers.
    confidence = np.random.default_rng(5).uniform(0.55, 1.0, 150)
    right = np.random.default_rng(9).random((1, 150))[0] < confidence
    probs = np.stack([confidence, 1.0 - confidence], axis=1)
    labels = np.where(right, 0, 1)
    simulated = ece_of_calibrated(confidence, draws=1, seed=9)
    assert simulated["mean"] == pytest.approx(expected_calibration_error(probs, labels))


def test_the_ece_of_a_calibrated_model_shrinks_with_the_number_of_images():
    rng = np.random.default_rng(2)
    confidence = np.concatenate([np.full(800, 0.99), rng.uniform(0.5, 0.95, 200)])
    small = ece_of_calibrated(confidence[rng.permutation(1000)[:100]], draws=500)
    large = ece_of_calibrated(confidence, draws=500)
    assert small["mean"] > 0.03 > 0.02 > large["mean"]  # chance alone, on a hundred images
    assert small["p90"] >= small["mean"]
    assert ece_of_calibrated(np.ones(50))["mean"] == 0.0  # always right when always sure


# --- the field temperature and its domain gate ------------------------------------------------


def two_populations(n: int = 300, seed: int = 0):
    """28x28 uint8 images of two kinds: thin strokes on black (general) and thick, blurred
    strokes on a grey background (the field): what the gate has to tell apart."""
    from scipy.ndimage import gaussian_filter, grey_dilation

    rng = np.random.default_rng(seed)
    general = np.zeros((n, 28, 28), np.float64)
    for image in general:
        row, col = rng.integers(6, 20, size=2)
        image[row : row + 8, col : col + 2] = 255
    field = np.stack([gaussian_filter(grey_dilation(g, size=(3, 3)), 1.5) for g in general[::-1]])
    field = np.clip(field + 60 + rng.normal(0, 10, field.shape), 0, 255)
    return general.astype(np.uint8), field.astype(np.uint8)


def test_the_domain_gate_tells_field_like_inputs_from_general_ones():
    general, field = two_populations()
    gate = domain_gate_fit(field_images=field[:200], general_images=general[:200])
    assert len(gate["weights"]) == 784
    # Images the gate never saw: the field scores high, the general set low.
    assert domain_score(gate, field[200:]).mean() > 0.9
    assert domain_score(gate, general[200:]).mean() < 0.1
    # The same image as uint8 or as floats in [0, 1] (as serving has it): the same score.
    assert np.allclose(domain_score(gate, field[200:]), domain_score(gate, field[200:].astype(np.float32) / 255))


def test_each_input_gets_a_temperature_between_the_general_and_the_field_one():
    temps = row_temperatures(np.array([0.0, 0.5, 1.0]), t_general=0.5, t_field=1.0)
    assert temps == pytest.approx([0.5, 1.0 / (0.5 / 0.5 + 0.5 / 1.0), 1.0])


def test_temperature_apply_rows_is_temperature_apply_row_by_row():
    probs, _ = synthetic(temperature=1.0, n=20)
    temps = np.linspace(0.4, 2.0, 20)
    rows = temperature_apply_rows(probs, temps)
    assert np.allclose(rows, [temperature_apply(p[None], t)[0] for p, t in zip(probs, temps, strict=True)])


def test_the_field_temperature_undoes_the_distortion_of_field_inputs():
    probs, labels = synthetic(temperature=0.5)  # over-confident: T 2 undoes it
    fitted = field_temperature_fit(probs, labels, scores=np.ones(len(labels)), t_general=0.5)
    assert fitted == pytest.approx(2.0, rel=0.15)


def test_inputs_that_do_not_look_like_the_field_keep_the_general_temperature():
    general, field = two_populations()
    probs, labels = synthetic(temperature=0.5, n=len(field))
    fit = field_calibration_fit(
        probs=probs, labels=labels, images=field, field_images=field, general_images=general, t_general=0.8
    )
    assert fit["t_field"] == pytest.approx(2.0, rel=0.2) and fit["fit_size"] == len(field)
    assert fit["ece"] < fit["ece_before"]
    assert fit["score_field"] > 0.9 and fit["score_general"] < 0.1
    on_general = calibrated_probabilities(probs, general, temperature=0.8, field=fit)
    assert np.allclose(on_general, temperature_apply(probs, 0.8), atol=0.02)
    assert np.all(np.abs(input_temperatures(general, temperature=0.8, field=fit) - 0.8) < 0.1)
    assert np.all(input_temperatures(field, temperature=0.8, field=fit) > 1.5)


@pytest.mark.parametrize("field", [None, {}, {"key": "k", "fresh": 12, "reason": "12 reviews; 100 needed"}])
def test_without_a_fitted_field_temperature_every_input_gets_the_versions(field):
    probs, _ = synthetic(temperature=1.0, n=10)
    images = np.zeros((10, 28, 28), np.uint8)
    assert np.array_equal(
        calibrated_probabilities(probs, images, temperature=0.6, field=field), temperature_apply(probs, 0.6)
    )
    assert np.array_equal(input_temperatures(images, temperature=0.6, field=field), np.full(10, 0.6))
