"""Compare three Keras networks with three scikit-learn classifiers on MNIST.

Each model is trained on (a subsample of) the training set, timed, and scored on the test set;
the rows go to ``comparison.json``, four PNG plots and a ``ModelComparison`` row.
TensorFlow/Keras, scikit-learn and matplotlib are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from mnistsite.objectstore import object_storage_enabled, object_tree_put
from training.models import ModelComparison

logger = logging.getLogger(__name__)

PIXELS = 28 * 28
INFERENCE_BATCH = 1000  # images per batch when timing inference
SINGLE_REPEATS = 20  # single-image calls timed (median reported)
COMPLEXITY_ORDER = ("low", "medium", "high")
COMPLEXITY_BASIS = {
    "low": "no learned features: a stored-sample lookup (k-NN) or axis-aligned pixel thresholds (random forest)",
    "medium": "one learned non-linear map over raw pixels, blind to 2-D structure (RBF SVM, MLP)",
    "high": "learned convolutional features that use the 2-D structure of the image (CNNs)",
}
FAMILY_COLOURS = {"cnn": "#1f77b4", "mlp": "#ff7f0e", "classical": "#2ca02c"}
PLOTS = (
    "accuracy_by_model.png",
    "training_time_by_model.png",
    "accuracy_vs_training_time.png",
    "accuracy_by_complexity.png",
)
ROW_KEYS = (
    "name",
    "family",
    "complexity",
    "accuracy",
    "train_time_s",
    "params",
    "params_kind",
    "inference_ms_per_image",
    "inference_batch_size",
    "inference_ms_single",
    "train_size",
    "test_size",
    "hyperparameters",
    "note",
)


@dataclass(frozen=True)
class ModelSpec:
    """One contender. ``max_train``/``max_test`` cap the images it sees (None: all of them)."""

    name: str
    family: str
    complexity: str
    kind: str  # "keras" or "sklearn"
    options: dict[str, Any] = field(default_factory=dict)
    max_train: int | None = None
    max_test: int | None = None


def model_specs(*, fast: bool = False, epochs: int | None = None) -> list[ModelSpec]:
    """The six contenders with their default budgets (about 15 minutes on 2 CPU cores in all).

    ``fast``: 1 epoch and small forests, for tests and CI. ``epochs`` overrides every network's epochs.
    """

    def ep(default: int) -> int:
        return epochs if epochs is not None else (1 if fast else default)

    return [
        ModelSpec("Complex CNN", "cnn", "high", "keras", {"architecture": "complex_cnn", "epochs": ep(2)}),
        ModelSpec("Simple CNN", "cnn", "high", "keras", {"architecture": "simple_cnn", "epochs": ep(4)}),
        ModelSpec("MLP", "mlp", "medium", "keras", {"architecture": "mlp", "epochs": ep(5)}),
        ModelSpec("k-NN", "classical", "low", "sklearn", {"estimator": "knn", "n_neighbors": 3}),
        ModelSpec(
            "Random Forest",
            "classical",
            "low",
            "sklearn",
            {"estimator": "random_forest", "n_estimators": 10 if fast else 100},
        ),
        ModelSpec("SVM (RBF)", "classical", "medium", "sklearn", {"estimator": "svm", "C": 5.0}, max_train=10_000),
    ]


# --- data ----------------------------------------------------------------------------------------


def subsample(x: np.ndarray, y: np.ndarray, size: int | None, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random, class-stratified-by-chance subset of ``size`` images (all of them if size is None or larger)."""
    if size is None or size >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=size, replace=False))
    return x[idx], y[idx]


def as_keras_input(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) / 255.0)[..., None]


def as_flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32) / 255.0


# --- timing --------------------------------------------------------------------------------------


def _per_image_ms(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> tuple[np.ndarray, float]:
    """Predict all of ``x`` in batches of INFERENCE_BATCH; return the predictions and ms per image."""
    outputs = []
    start = time.perf_counter()
    for i in range(0, len(x), INFERENCE_BATCH):
        outputs.append(predict(x[i : i + INFERENCE_BATCH]))
    elapsed = time.perf_counter() - start
    return np.concatenate(outputs), 1000.0 * elapsed / max(len(x), 1)


def _single_ms(predict: Callable[[np.ndarray], Any], x: np.ndarray, *, repeats: int = SINGLE_REPEATS) -> float:
    """Median latency (ms) of predicting one image, after one warm-up call."""
    predict(x[:1])
    times = []
    for i in range(repeats):
        one = x[i % len(x) : i % len(x) + 1]
        start = time.perf_counter()
        predict(one)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


# --- the contenders ------------------------------------------------------------------------------


def keras_evaluate(spec: ModelSpec, data: dict[str, np.ndarray], *, seed: int, batch_size: int) -> dict[str, Any]:
    """Build ``spec``'s architecture, train it, score argmax over the 10 digit outputs on the test set."""
    import keras

    from training.architectures import architecture_build

    keras.utils.set_random_seed(seed)
    x_train, x_test = as_keras_input(data["x_train"]), as_keras_input(data["x_test"])
    model = architecture_build(spec.options["architecture"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epochs = spec.options["epochs"]
    start = time.perf_counter()
    model.fit(x_train, data["y_train"], batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    train_time = time.perf_counter() - start

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model(batch, training=False))

    predict(x_test[:INFERENCE_BATCH])  # warm-up: traces the graph for a full batch
    probs, per_image = _per_image_ms(predict, x_test)
    single = _single_ms(predict, x_test)
    accuracy = float((probs[:, :10].argmax(axis=1) == data["y_test"]).mean())
    return {
        "accuracy": accuracy,
        "train_time_s": train_time,
        "params": int(model.count_params()),
        "params_kind": "trainable and non-trainable weights (keras count_params)",
        "inference_ms_per_image": per_image,
        "inference_ms_single": single,
        "hyperparameters": {
            "architecture": spec.options["architecture"],
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": "adam lr=1e-3",
            "augmentation": "none",
        },
        "note": (
            f"{epochs} epoch{'s' if epochs != 1 else ''}, no augmentation; accuracy = argmax over the 10 digit "
            "outputs (the 11th, 'not a digit', is ignored)"
        ),
    }


def _sklearn_estimator(options: dict[str, Any], *, seed: int, n_jobs: int):
    if options["estimator"] == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=options["n_neighbors"], algorithm="brute", n_jobs=n_jobs)
    if options["estimator"] == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=options["n_estimators"], random_state=seed, n_jobs=n_jobs)
    if options["estimator"] == "svm":
        from sklearn.svm import SVC

        return SVC(C=options["C"], kernel="rbf", gamma="scale", cache_size=1000, random_state=seed)
    raise ValueError(f"unknown estimator {options['estimator']!r}")


def _sklearn_params(estimator, options: dict[str, Any], train_size: int) -> tuple[int, str]:
    """An honest stand-in for a parameter count: the numbers the fitted model stores to predict."""
    if options["estimator"] == "knn":
        return train_size * PIXELS, f"stored training images x 784 pixels ({train_size:,} x 784)"
    if options["estimator"] == "random_forest":
        nodes = sum(tree.tree_.node_count for tree in estimator.estimators_)
        return int(nodes), f"total tree nodes over {len(estimator.estimators_)} trees (each a threshold or a leaf)"
    support = int(estimator.n_support_.sum())
    return support * PIXELS, f"support vectors x 784 pixels ({support:,} x 784; plus one dual weight per class pair)"


def sklearn_evaluate(spec: ModelSpec, data: dict[str, np.ndarray], *, seed: int, n_jobs: int) -> dict[str, Any]:
    """Fit ``spec``'s scikit-learn classifier on flattened [0, 1] pixels; score it on the test set."""
    x_train, x_test = as_flat(data["x_train"]), as_flat(data["x_test"])
    estimator = _sklearn_estimator(spec.options, seed=seed, n_jobs=n_jobs)
    start = time.perf_counter()
    estimator.fit(x_train, data["y_train"])
    train_time = time.perf_counter() - start
    predictions, per_image = _per_image_ms(estimator.predict, x_test)
    single = _single_ms(estimator.predict, x_test, repeats=5 if spec.options["estimator"] == "knn" else 10)
    params, params_kind = _sklearn_params(estimator, spec.options, len(x_train))
    hyper = {k: v for k, v in spec.options.items() if k != "estimator"}
    notes = {
        "knn": "k-NN 'training' only stores the images; the cost is at prediction (brute-force distances)",
        "random_forest": "default scikit-learn trees (grown to purity)",
        "svm": "RBF kernel, gamma='scale'; fit time grows about quadratically with training images",
    }
    return {
        "accuracy": float((predictions == data["y_test"]).mean()),
        "train_time_s": train_time,
        "params": params,
        "params_kind": params_kind,
        "inference_ms_per_image": per_image,
        "inference_ms_single": single,
        "hyperparameters": {"estimator": spec.options["estimator"], **hyper, "n_jobs": n_jobs},
        "note": notes[spec.options["estimator"]],
    }


def _size_note(used: int, total: int, what: str) -> str:
    return f"{what} on {used:,} of {total:,} images" if used < total else f"{what} on all {total:,} images"


def comparison_run(
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    fast: bool = False,
    train_size: int | None = None,
    test_size: int | None = None,
    epochs: int | None = None,
    batch_size: int = 128,
    seed: int = 42,
    n_jobs: int = -1,
    only: list[str] | None = None,
    log: Callable[[str], None] = logger.info,
) -> list[dict[str, Any]]:
    """Train and score every contender; return one row per model (keys: ROW_KEYS).

    ``train_size``/``test_size`` cap every model's data (``fast`` defaults them to 600/300);
    a model's own cap (the SVM's 10,000) still applies below that.
    """
    if fast:
        train_size = 600 if train_size is None else train_size
        test_size = 300 if test_size is None else test_size
    rows = []
    for spec in model_specs(fast=fast, epochs=epochs):
        if only and spec.name not in only:
            continue
        n_train = min(x for x in (len(x_train), train_size, spec.max_train) if x is not None)
        n_test = min(x for x in (len(x_test), test_size, spec.max_test) if x is not None)
        xtr, ytr = subsample(x_train, y_train, n_train, seed=seed)
        xte, yte = subsample(x_test, y_test, n_test, seed=seed + 1)
        data = {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}
        log(f"{spec.name}: training on {len(xtr):,} images, testing on {len(xte):,}")
        if spec.kind == "keras":
            result = keras_evaluate(spec, data, seed=seed, batch_size=batch_size)
        else:
            result = sklearn_evaluate(spec, data, seed=seed, n_jobs=n_jobs)
        sizes = f"{_size_note(len(xtr), len(x_train), 'trained')}; {_size_note(len(xte), len(x_test), 'tested')}"
        timing = (
            f"inference per image measured on batches of {min(INFERENCE_BATCH, len(xte)):,} "
            "(single: one image per call, median)"
        )
        row = {
            "name": spec.name,
            "family": spec.family,
            "complexity": spec.complexity,
            "accuracy": round(result["accuracy"], 4),
            "train_time_s": round(result["train_time_s"], 2),
            "params": result["params"],
            "params_kind": result["params_kind"],
            "inference_ms_per_image": round(result["inference_ms_per_image"], 4),
            "inference_batch_size": min(INFERENCE_BATCH, len(xte)),
            "inference_ms_single": round(result["inference_ms_single"], 3),
            "train_size": len(xtr),
            "test_size": len(xte),
            "hyperparameters": result["hyperparameters"],
            "note": f"{sizes}. {result['note']}. Params: {result['params_kind']}. {timing}.",
        }
        log(
            f"{spec.name}: accuracy {row['accuracy']:.4f}, trained in {row['train_time_s']:.1f} s, "
            f"{row['inference_ms_per_image']:.3f} ms/image"
        )
        rows.append(row)
    return rows


# --- plots ---------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend_handles():
    from matplotlib.patches import Patch

    return [Patch(color=colour, label=family) for family, colour in FAMILY_COLOURS.items()]


def _accuracy_floor(rows: list[dict[str, Any]]) -> float:
    low = min(r["accuracy"] for r in rows)
    return max(0.0, np.floor((low - 0.02) * 50) / 50)


def accuracy_by_model_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["accuracy"])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(rows) + 1.5))
    bars = ax.barh(
        [r["name"] for r in rows], [r["accuracy"] for r in rows], color=[FAMILY_COLOURS[r["family"]] for r in rows]
    )
    for bar, row in zip(bars, rows, strict=True):
        ax.annotate(
            f"{row['accuracy']:.2%}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(_accuracy_floor(rows), 1.0)
    ax.set_xlabel("test accuracy (axis does not start at 0)")
    ax.set_title("Test accuracy by model")
    ax.legend(handles=_legend_handles(), loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_time_by_model_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["train_time_s"])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(rows) + 1.5))
    bars = ax.barh(
        [f"{r['name']} ({r['train_size']:,} imgs)" for r in rows],
        [max(r["train_time_s"], 1e-3) for r in rows],
        color=[FAMILY_COLOURS[r["family"]] for r in rows],
    )
    for bar, row in zip(bars, rows, strict=True):
        ax.annotate(
            f"{row['train_time_s']:.1f} s",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax.set_xscale("log")
    ax.set_xlim(right=max(r["train_time_s"] for r in rows) * 4)
    ax.set_xlabel("training time, seconds (log scale)")
    ax.set_title("Training time by model (training images in brackets)")
    ax.legend(handles=_legend_handles(), loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_vs_training_time_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for row in rows:
        ax.scatter(
            max(row["train_time_s"], 1e-3),
            row["accuracy"],
            s=70,
            color=FAMILY_COLOURS[row["family"]],
            edgecolor="black",
            zorder=3,
        )
        ax.annotate(
            row["name"],
            (max(row["train_time_s"], 1e-3), row["accuracy"]),
            xytext=(6, 4),
            textcoords="offset points",
            fontsize=9,
        )
    ax.set_xscale("log")
    times = [max(r["train_time_s"], 1e-3) for r in rows]
    ax.set_xlim(min(times) / 2, max(times) * 4)
    ax.set_ylim(_accuracy_floor(rows), 1.0)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_xlabel("training time, seconds (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy vs training time (up and left is better)")
    ax.legend(handles=_legend_handles(), loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_by_complexity_plot(rows: list[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    buckets = [b for b in COMPLEXITY_ORDER if any(r["complexity"] == b for r in rows)]
    means = [float(np.mean([r["accuracy"] for r in rows if r["complexity"] == b])) for b in buckets]
    fig, ax = plt.subplots(figsize=(8, 5))
    bars = ax.bar(buckets, means, color="#cccccc", edgecolor="black", width=0.6, zorder=1)
    for i, bucket in enumerate(buckets):
        members = [r for r in rows if r["complexity"] == bucket]
        for j, row in enumerate(members):
            dx = (j - (len(members) - 1) / 2) * 0.22
            ax.scatter(i + dx, row["accuracy"], color=FAMILY_COLOURS[row["family"]], edgecolor="black", zorder=3)
            ax.annotate(
                row["name"],
                (i + dx, row["accuracy"]),
                xytext=(0, -13 if j % 2 == 0 else 7),  # alternate below/above so equal scores stay legible
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
    for bar, mean in zip(bars, means, strict=True):
        ax.annotate(
            f"mean {mean:.2%}",
            (bar.get_x() + bar.get_width() / 2, 1.0),
            xytext=(0, -14),
            textcoords="offset points",
            ha="center",
            fontsize=9,
            weight="bold",
        )
    ax.set_ylim(_accuracy_floor(rows) - 0.01, 1.0)
    ax.set_xlabel("complexity (low: no learned features; medium: learned, pixel-level; high: convolutional)")
    ax.set_ylabel("test accuracy (axis does not start at 0)")
    ax.set_title("Mean test accuracy by model complexity (bars), models as dots")
    ax.legend(handles=_legend_handles(), loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def comparison_plots_write(rows: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [
        accuracy_by_model_plot(rows, out_dir / "accuracy_by_model.png"),
        training_time_by_model_plot(rows, out_dir / "training_time_by_model.png"),
        accuracy_vs_training_time_plot(rows, out_dir / "accuracy_vs_training_time.png"),
        accuracy_by_complexity_plot(rows, out_dir / "accuracy_by_complexity.png"),
    ]


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table, best accuracy first."""
    lines = [
        "| Model | Family | Complexity | Test accuracy | Training time (s) | Parameters | Inference (ms/image, batch) "
        "| Inference (ms, single) | Train / test images |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["accuracy"]):
        lines.append(
            f"| {r['name']} | {r['family']} | {r['complexity']} | {r['accuracy']:.2%} | {r['train_time_s']:.1f} "
            f"| {r['params']:,} | {r['inference_ms_per_image']:.3f} | {r['inference_ms_single']:.2f} "
            f"| {r['train_size']:,} / {r['test_size']:,} |"
        )
    return "\n".join(lines)


def machine_description() -> dict[str, Any]:
    """CPU count and load: timings only compare within one run on one machine."""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "load_average_1_5_15_min": load}


def comparison_report_write(*, rows: list[dict[str, Any]], out_dir: Path, command: str = "") -> dict[str, Any]:
    """Write ``comparison.json``, ``comparison.md`` and the four plots into ``out_dir``; return the JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = comparison_plots_write(rows, out_dir)
    report = {
        "created": timezone.now().isoformat(),
        "command": command,
        "machine": machine_description(),
        "complexity_buckets": COMPLEXITY_BASIS,
        "plots": [p.name for p in plots],
        "results": rows,
    }
    (out_dir / "comparison.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "comparison.md").write_text(comparison_table(rows) + "\n")
    return report


def model_comparison_record(*, results: list[dict[str, Any]], report_dir: str | Path, command: str) -> ModelComparison:
    """Store one comparison run (its rows, where its report lies, the command that made it).
    With object storage, the report's files go to the bucket first, under
    comparisons/<time>-<random>/, and every web host serves its plots from there."""
    storage_prefix = ""
    if object_storage_enabled():
        storage_prefix = f"comparisons/{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
        object_tree_put(directory=Path(report_dir), prefix=storage_prefix)
    with transaction.atomic():
        return ModelComparison.objects.create(
            results=results, report_dir=str(report_dir), storage_prefix=storage_prefix, command=command[:500]
        )
