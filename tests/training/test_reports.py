"""The EDA report and the model comparison, on small synthetic digit sets (no MNIST download)."""

import json

import numpy as np
import pytest
from django.core.management import call_command

from training import compare, eda
from training.models import ModelComparison

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic_digits(per_class: list[int], *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: class d is a bright bar on rows 4+2d, 4+2d+1, over faint noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), per_class)
    images = rng.integers(0, 40, size=(len(labels), 28, 28)).astype(np.uint8)
    for i, digit in enumerate(labels):
        row = 4 + 2 * digit
        images[i, row : row + 2, 6:22] = 255
    order = rng.permutation(len(labels))
    return images[order], labels[order].astype(np.uint8)


def assert_png(path):
    assert path.is_file(), f"{path.name} missing"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), f"{path.name} is not a PNG"
    assert len(data) > 1000, f"{path.name} is suspiciously small"


# --- EDA -----------------------------------------------------------------------------------------

TRAIN_COUNTS = [12, 9, 10, 11, 8, 14, 10, 9, 13, 7]
TEST_COUNTS = [3, 2, 4, 3, 2, 5, 3, 2, 4, 2]


@pytest.fixture(scope="module")
def eda_report(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("eda")
    x_train, y_train = synthetic_digits(TRAIN_COUNTS, seed=1)
    x_test, y_test = synthetic_digits(TEST_COUNTS, seed=2)
    summary = eda.eda_report_write(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, out_dir=out_dir)
    return out_dir, summary


@pytest.mark.parametrize("name", eda.FIGURES)
def test_eda_writes_each_figure_as_png(eda_report, name):
    out_dir, _ = eda_report
    assert_png(out_dir / name)


def test_eda_json_has_the_class_counts(eda_report):
    out_dir, _ = eda_report
    data = json.loads((out_dir / "eda.json").read_text())
    assert data["class_counts"] == {"train": TRAIN_COUNTS, "test": TEST_COUNTS}
    assert data["train_size"] == sum(TRAIN_COUNTS)
    assert data["image_shape"] == [28, 28]


def test_eda_odd_samples_point_at_the_extreme_images():
    x = np.zeros((3, 28, 28), dtype=np.uint8)
    x[0, 10:18, 10:18] = 255  # heavy, centred
    x[1, 13:15, 13:15] = 255  # light, centred
    x[2, 0:4, 0:4] = 255  # in the corner
    odd = eda.odd_samples(x, np.array([0, 1, 2]), per_kind=1)
    assert odd["most_ink"][0]["index"] == 0
    assert odd["least_ink"][0]["index"] == 1
    assert odd["off_centre"][0]["index"] == 2


def test_centre_of_mass_of_a_single_pixel_is_that_pixel():
    x = np.zeros((1, 28, 28), dtype=np.uint8)
    x[0, 5, 20] = 200
    assert eda.centre_of_mass(x).tolist() == [[5.0, 20.0]]


# --- model comparison ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_mnist():
    x_train, y_train = synthetic_digits([30] * 10, seed=3)
    x_test, y_test = synthetic_digits([10] * 10, seed=4)
    return x_train, y_train, x_test, y_test


@pytest.fixture
def fast_comparison(db, tmp_path, monkeypatch, synthetic_mnist, settings):
    """`compare_models --fast` run end to end on the synthetic set instead of MNIST."""
    monkeypatch.setattr("training.management.commands.compare_models.load_mnist", lambda directory: synthetic_mnist)
    out_dir = tmp_path / "comparison"
    call_command("compare_models", "--fast", "--out", str(out_dir), "--train-size", "200", "--test-size", "50")
    return out_dir


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.django_db
def test_compare_models_fast_writes_rows_plots_json_and_a_record(fast_comparison):
    """One end-to-end run (training six models is the slow part, so it is checked once)."""
    out_dir = fast_comparison
    report = json.loads((out_dir / "comparison.json").read_text())
    rows = report["results"]
    assert [r["name"] for r in rows] == ["Complex CNN", "Simple CNN", "MLP", "k-NN", "Random Forest", "SVM (RBF)"]
    for row in rows:
        assert set(compare.ROW_KEYS) <= set(row), row["name"]
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["params"] > 0
        assert row["train_size"] == 200
        assert row["test_size"] == 50
        assert "200 of 300" in row["note"]
        assert row["family"] in compare.FAMILY_COLOURS
        assert row["complexity"] in compare.COMPLEXITY_ORDER
    for name in compare.PLOTS:
        assert_png(out_dir / name)
    record = ModelComparison.objects.get()
    assert record.results == rows
    assert record.report_dir == str(out_dir)
    assert record.command.startswith("call_command compare_models") and "--fast" in record.command


def test_comparison_classical_models_learn_the_synthetic_digits(synthetic_mnist):
    x_train, y_train, x_test, y_test = synthetic_mnist
    rows = compare.comparison_run(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        fast=True,
        only=["k-NN", "SVM (RBF)"],
        log=lambda message: None,
    )
    assert {r["name"]: r["accuracy"] for r in rows} == {"k-NN": 1.0, "SVM (RBF)": 1.0}


def test_svm_training_set_is_capped_at_10000():
    specs = {spec.name: spec for spec in compare.model_specs()}
    assert specs["SVM (RBF)"].max_train == 10_000


def test_a_capped_model_trains_on_a_subsample_and_says_so(synthetic_mnist, monkeypatch):
    x_train, y_train, x_test, y_test = synthetic_mnist
    capped = compare.ModelSpec("SVM (RBF)", "classical", "medium", "sklearn", {"estimator": "svm", "C": 5.0}, 100)
    monkeypatch.setattr(compare, "model_specs", lambda **kwargs: [capped])
    rows = compare.comparison_run(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, log=lambda m: None)
    assert rows[0]["train_size"] == 100
    assert "trained on 100 of 300 images" in rows[0]["note"]
    assert "tested on all 100 images" in rows[0]["note"]


@pytest.mark.django_db
def test_model_comparison_record_stores_results_dir_and_command(tmp_path):
    rows = [{"name": "k-NN", "accuracy": 0.97}]
    record = compare.model_comparison_record(results=rows, report_dir=tmp_path, command="python manage.py x")
    record.refresh_from_db()
    assert (record.results, record.report_dir, record.command) == (rows, str(tmp_path), "python manage.py x")
