import json
from pathlib import Path

import numpy as np
import pytest

from training.train import PRESETS, augment_fn, preset_resolve, train

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = [
    "model.keras",
    "model.tflite",
    "metrics.json",
    "confusion_matrix.png",
    "misclassified.png",
    "training_curves.png",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One small real training run (the tiny preset: 2000 MNIST images, 1 epoch), shared by the tests below."""
    output_dir = tmp_path_factory.mktemp("run")
    progress, reports = [], []
    metrics = train(
        preset="tiny",
        seed=1,
        output_dir=output_dir,
        mnist_dir=ROOT / "data" / "mnist",
        cache_dir=tmp_path_factory.mktemp("cache"),
        on_epoch=progress.append,
        on_progress=lambda **fields: reports.append(fields),
        command="pytest tiny run",
        version="test-tiny",
    )
    return output_dir, metrics, progress, reports


@pytest.mark.integration
@pytest.mark.slow
def test_train_writes_all_artifacts(tiny_run):
    output_dir, _, _, _ = tiny_run
    for name in ARTIFACTS:
        assert (output_dir / name).stat().st_size > 0, name


@pytest.mark.integration
@pytest.mark.slow
def test_train_reports_metrics_and_writes_them(tiny_run):
    output_dir, metrics, _, _ = tiny_run
    assert json.loads((output_dir / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    assert 0.3 < metrics["accuracy"] <= 1.0  # one epoch on 2000 images: far above chance
    assert metrics["command"] == "pytest tiny run" and metrics["preset"] == "tiny" and metrics["seed"] == 1
    assert len(metrics["confusion_matrix"]) == 10 and sum(map(sum, metrics["confusion_matrix"])) == 10000
    assert set(metrics["precision"]) == set(metrics["recall"]) == {str(d) for d in range(10)}
    assert len(metrics["data_sha256"]) == 4 and metrics["param_count"] > 0 and metrics["wall_seconds"] > 0


@pytest.mark.integration
@pytest.mark.slow
def test_train_calls_on_epoch_with_progress(tiny_run):
    _, _, progress, _ = tiny_run
    assert [p["epoch"] for p in progress] == [1]
    assert set(progress[0]) == {"epoch", "epochs", "loss", "accuracy", "val_accuracy"}
    assert progress[0]["epochs"] == 1


@pytest.mark.integration
@pytest.mark.slow
def test_train_reports_its_phases_in_order_and_every_batch(tiny_run):
    *_, reports = tiny_run
    phases = [r["phase"] for r in reports if "phase" in r]
    assert list(dict.fromkeys(phases)) == ["fetching", "generating", "preparing", "training", "exporting"]
    steps = next(r["steps"] for r in reports if r.get("phase") == "training")
    assert [r["step"] for r in reports if "eta_seconds" in r and r.get("step")] == list(range(1, steps + 1))
    # The ETA is measured from batch times: known after the second batch, and 0 at the end of the last epoch.
    etas = [r["eta_seconds"] for r in reports if "eta_seconds" in r]
    assert etas[0] is None and etas[2] is not None and etas[-1] == 0.0


@pytest.mark.integration
@pytest.mark.slow
def test_exported_tflite_agrees_with_keras_on_the_test_set(tiny_run):
    _, metrics, _, _ = tiny_run
    assert metrics["parity"]["images"] == 10000
    assert metrics["parity"]["argmax_agreement"] >= 0.999
    assert metrics["parity"]["max_abs_diff"] < 1e-4


def test_presets_define_the_same_hyperparameters():
    keys = set(PRESETS["final"])
    assert {"quick", "final", "tiny"} <= set(PRESETS)
    assert all(set(p) == keys for p in PRESETS.values())


def test_preset_overrides_apply_and_unknown_preset_is_refused():
    assert preset_resolve("quick", epochs=7, batch_size=None)["epochs"] == 7
    assert preset_resolve("quick", architecture="mlp")["model_options"] == {}
    with pytest.raises(ValueError, match="unknown preset"):
        preset_resolve("huge")


def test_augmentation_keeps_shape_range_and_most_of_the_ink():
    import tensorflow as tf

    images = np.zeros((16, 28, 28), np.uint8)
    images[:, 8:20, 12:16] = 255
    x, labels = augment_fn(**PRESETS["final"]["augment"])(tf.constant(images), tf.range(16))
    x = x.numpy()
    assert x.shape == (16, 28, 28, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    ink = x.reshape(16, -1).sum(axis=1) / (12 * 4)
    assert np.all(ink > 0.5) and np.all(ink < 2.0)


def field_snapshot(path, *, n: int = 40):
    """A field set as recognizer.field writes it: MNIST sample digits and noise as "not a digit"."""
    from tests.images import mnist_sample

    images, labels = mnist_sample()
    rng = np.random.default_rng(3)
    x = np.concatenate([images[: n - 10], rng.integers(0, 256, (10, 28, 28))]).astype(np.uint8)
    y = np.concatenate([labels[: n - 10], np.full(10, 10)]).astype(np.uint8)
    np.savez(
        path,
        x_train=x[:-8], y_train=y[:-8], source_train=np.full(n - 8, "api"), id_train=np.arange(n - 8),
        x_test=x[-8:], y_test=y[-8:], source_test=np.full(8, "api"), id_test=np.arange(n - 8, n),
        key_test=np.asarray("k"),
    )  # fmt: skip
    return path


@pytest.mark.integration
@pytest.mark.slow
def test_finetune_starts_from_the_given_weights_and_trains_on_field_train(tmp_path, monkeypatch):
    # The finetune recipe on a tiny budget: 1 epoch over 1,000 MNIST images and the reviews, no generated images.
    small = {
        "train_size": 1000,
        "extras_fraction": 0.0,
        "calibration_extras": 0.0,
        "calibration_holdout": 300,
        "blend_check": 800,
    }
    monkeypatch.setitem(PRESETS, "finetune", {**PRESETS["finetune"], **small, "epochs": 1})
    default = ROOT / "models" / "default"
    metrics = train(
        preset="finetune",
        output_dir=tmp_path / "out",
        mnist_dir=ROOT / "data" / "mnist",
        cache_dir=tmp_path / "cache",
        field_set=field_snapshot(tmp_path / "field.npz"),
        with_reviews=True,
        init_model=default / "model.keras",
    )
    assert metrics["init_model"] == str(default / "model.keras")
    assert metrics["accuracy"] >= 0.99  # new weights would read a few hundred steps' worth: far less
    assert metrics["train_field_images"] >= 32 and metrics["with_reviews"] is True
    calibration = metrics["calibration"]
    assert calibration["images"] == 300 + 32  # the held-out digits and field-train
    assert 0.05 < calibration["temperature"] < 5.0 and calibration["nll"] <= calibration["nll_before"] + 1e-9
    assert (tmp_path / "out" / "model.tflite").stat().st_size > 0
    assert metrics["field_trained_ids"] == list(range(32))  # what a field temperature must not be fitted on
    with np.load(tmp_path / "out" / "calibration-set.npz") as general:  # the gate's other side: no field-train
        assert general["x"].shape == (300, 28, 28) and general["x"].dtype == np.uint8
    blend = metrics["blend"]  # chosen on 300 held-out and 500 unsampled MNIST training digits
    assert blend["check_images"] == 800 and blend["alpha"] in PRESETS["finetune"]["blend"]
    assert blend["tried"][0]["alpha"] == 0.0 and blend["tried"][-1]["alpha"] == blend["alpha"]


def linear_model(weights):
    """A linear softmax: under the identity, the class is the largest input."""
    import keras

    weights = np.asarray(weights, np.float32)
    inputs = keras.Input(shape=(weights.shape[0],))
    model = keras.Model(inputs, keras.layers.Dense(weights.shape[1], use_bias=False, activation="softmax")(inputs))
    model.layers[-1].kernel.assign(weights)
    return model


def test_blend_choose_takes_the_largest_share_within_the_nll_tolerance():
    from training.train import blend_choose

    right, wrong = np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)[::-1]
    model = linear_model(wrong)
    x, y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.array([0, 1])
    # Under alpha * wrong + (1 - alpha) * right the true class gets sigmoid(1 - 2 alpha):
    # NLL 0.313 at 0, 0.474 at 0.25 (+51%), 0.974 at 0.75, 1.313 at 1.
    alpha, tried = blend_choose(
        model=model, start=[right], end=[wrong], x_check=x, y_check=y, grid=[0.25, 1.0, 0.75], tolerance=0.6
    )
    assert alpha == 0.25
    assert [row["alpha"] for row in tried] == [0.0, 1.0, 0.75, 0.25]
    nll = [-np.log(1 / (1 + np.exp(-(1 - 2 * a)))) for a in (0.0, 1.0, 0.75, 0.25)]
    assert np.allclose([row["nll"] for row in tried], nll, atol=1e-5)
    assert [row["accuracy"] for row in tried] == [1.0, 0.0, 0.0, 1.0]
    assert np.allclose(model.layers[-1].kernel.numpy(), [[0.75, 0.25], [0.25, 0.75]])  # left with the chosen blend


def test_blend_choose_reads_the_likelihood_where_the_accuracy_does_not_move():
    from training.train import blend_choose

    # Every blend reads both digits right, less surely the more of ``wrong`` it holds (margin
    # 4 - 5 alpha; NLL +65% at 0.1, +242% at 0.25): the accuracy cannot tell them apart.
    right, wrong = np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)[::-1]
    model = linear_model(right)
    x, y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.array([0, 1])
    alpha, tried = blend_choose(
        model=model, start=[4 * right], end=[wrong], x_check=x, y_check=y, grid=[0.5, 0.25, 0.1], tolerance=0.7
    )
    assert [row["accuracy"] for row in tried] == [1.0] * len(tried)
    assert alpha == 0.1 and [row["alpha"] for row in tried] == [0.0, 0.5, 0.25, 0.1]


def test_blend_choose_keeps_the_trained_weights_when_they_read_the_check_set_as_well():
    from training.train import blend_choose

    start, end = np.eye(2, dtype=np.float32), 2 * np.eye(2, dtype=np.float32)
    model = linear_model(start)
    x, y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.array([0, 1])
    alpha, tried = blend_choose(
        model=model, start=[start], end=[end], x_check=x, y_check=y, grid=[1.0, 0.5], tolerance=0.0
    )
    assert alpha == 1.0 and len(tried) == 2  # surer and right: the first share tried is kept
    assert np.allclose(model.layers[-1].kernel.numpy(), end)


def test_blend_choose_falls_back_to_the_smallest_share():
    from training.train import blend_choose

    right, wrong = np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32)[::-1]
    model = linear_model(right)
    x, y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), np.array([0, 1])
    alpha, _ = blend_choose(
        model=model, start=[right], end=[wrong], x_check=x, y_check=y, grid=[1.0, 0.8], tolerance=0.1
    )
    assert alpha == 0.8
