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
    # Served: the finetuned network mixed with the one it started from, frozen as it was.
    assert metrics["mixture"] == {"weight": PRESETS["finetune"]["mix"]}
    import keras

    served = keras.models.load_model(tmp_path / "out" / "model.keras", compile=False)
    start = keras.models.load_model(default / "model.keras", compile=False)
    anchor = served.get_layer("anchor")
    assert all(np.array_equal(a, b) for a, b in zip(anchor.get_weights(), start.get_weights(), strict=True))
    assert not all(
        np.array_equal(a, b) for a, b in zip(served.get_layer("field").get_weights(), start.get_weights(), strict=True)
    )
    assert metrics["param_count"] == 2 * start.count_params()


def small_model(seed: int):
    """A tiny network shaped as the site's models are: 28x28x1 in, 11 probabilities out."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(28, 28, 1))
    logits = keras.layers.Dense(11)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits), name="complex_cnn")


def images(n: int = 6):
    return np.random.default_rng(0).random((n, 28, 28, 1), dtype=np.float32)


def test_a_mixture_serves_the_weighted_sum_of_its_two_networks_probabilities():
    from training.architectures import mixture_build

    anchor, field = small_model(1), small_model(2)
    x = images()
    mixture = mixture_build(anchor=anchor, field=field, weight=0.7)
    expected = 0.7 * field.predict(x, verbose=0) + 0.3 * anchor.predict(x, verbose=0)
    served = mixture.predict(x, verbose=0)
    assert np.allclose(served, expected, atol=1e-6) and np.allclose(served.sum(axis=1), 1.0, atol=1e-5)
    assert not mixture.get_layer("anchor").trainable and mixture.get_layer("field").trainable


def test_a_finetune_from_a_plain_model_trains_a_copy_and_keeps_the_model_as_anchor():
    from training.architectures import mixture_parts

    start = small_model(1)
    before = [w.copy() for w in start.get_weights()]
    anchor, trained = mixture_parts(start)
    assert anchor is start and trained is not start
    assert all(np.array_equal(a, b) for a, b in zip(trained.get_weights(), before, strict=True))
    trained.layers[-2].kernel.assign(np.zeros_like(before[0]))  # training the copy ...
    assert all(np.array_equal(a, b) for a, b in zip(anchor.get_weights(), before, strict=True))  # ... leaves the anchor


def test_a_finetune_from_a_mixture_keeps_its_anchor_and_never_nests(tmp_path):
    import keras

    from training.architectures import mixture_build, mixture_parts
    from training.export import model_export, tflite_predict

    first = mixture_build(anchor=small_model(1), field=small_model(2), weight=0.7)
    model_export(first, tmp_path / "first")
    loaded = keras.models.load_model(tmp_path / "first" / "model.keras", compile=False)
    anchor, trained = mixture_parts(loaded)
    assert anchor.name == "anchor" and trained.name == "field" and not anchor.trainable
    second = mixture_build(anchor=anchor, field=trained, weight=0.5)
    assert len(second.weights) == len(first.weights)  # two networks, not three
    paths = model_export(second, tmp_path / "second")
    x = images()
    parts = [first.get_layer(name).predict(x, verbose=0) for name in ("field", "anchor")]
    expected = 0.5 * parts[0] + 0.5 * parts[1]
    assert np.allclose(tflite_predict(paths["tflite"], x), expected, atol=1e-5)
