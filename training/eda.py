"""Exploratory data analysis of MNIST: a few PNG figures and an ``eda.json`` with the numbers.

Plain functions over numpy arrays (uint8 images ``(N, 28, 28)``, integer labels ``(N,)``), so
tests can pass small synthetic sets. No Django here; matplotlib is imported lazily (Agg backend).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

NUM_DIGITS = 10
SAMPLES_PER_CLASS = 12
ODD_PER_KIND = 10

FIGURES = (
    "samples_per_class.png",
    "class_distribution.png",
    "mean_digit.png",
    "pixel_histogram.png",
    "ink_and_centre.png",
    "odd_samples.png",
)


# --- numbers -------------------------------------------------------------------------------------


def class_counts(y: np.ndarray, *, num_classes: int = NUM_DIGITS) -> list[int]:
    """How many images of each digit 0..num_classes-1."""
    return np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes)[:num_classes].tolist()


def ink_amount(x: np.ndarray) -> np.ndarray:
    """Total ink of each image, in 'fully inked pixels' (sum of intensities / 255)."""
    return x.reshape(len(x), -1).sum(axis=1, dtype=np.float64) / 255.0


def centre_of_mass(x: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre of each image as (row, column); the image centre for a blank image."""
    x = x.astype(np.float64)
    height, width = x.shape[1:]
    total = x.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    rows = (x.sum(axis=2) * np.arange(height)).sum(axis=1) / safe
    cols = (x.sum(axis=1) * np.arange(width)).sum(axis=1) / safe
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    com = np.stack([rows, cols], axis=1)
    com[total == 0] = centre
    return com


def mean_images(x: np.ndarray, y: np.ndarray, *, num_classes: int = NUM_DIGITS) -> np.ndarray:
    """Mean image of each digit, float in [0, 255]; zeros for a digit with no images."""
    means = np.zeros((num_classes, *x.shape[1:]), dtype=np.float64)
    for digit in range(num_classes):
        members = x[y == digit]
        if len(members):
            means[digit] = members.mean(axis=0, dtype=np.float64)
    return means


def distance_to_class_mean(x: np.ndarray, y: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Euclidean distance (in [0, 1] pixel units) of each image to the mean image of its own class."""
    distances = np.empty(len(x), dtype=np.float64)
    for digit in range(len(means)):
        idx = np.flatnonzero(y == digit)
        if len(idx):
            diff = x[idx].reshape(len(idx), -1).astype(np.float32) / 255.0 - means[digit].reshape(1, -1) / 255.0
            distances[idx] = np.sqrt((diff * diff).sum(axis=1))
    return distances


def pixel_histogram(x: np.ndarray) -> np.ndarray:
    """Counts of each of the 256 intensity values over all pixels."""
    return np.bincount(x.reshape(-1), minlength=256)[:256]


def odd_samples(x: np.ndarray, y: np.ndarray, *, per_kind: int = ODD_PER_KIND) -> dict[str, list[dict[str, Any]]]:
    """Indices of the most unusual images by four criteria, most extreme first."""
    ink = ink_amount(x)
    com = centre_of_mass(x)
    centre = np.array([(x.shape[1] - 1) / 2, (x.shape[2] - 1) / 2])
    offset = np.sqrt(((com - centre) ** 2).sum(axis=1))
    atypical = distance_to_class_mean(x, y, mean_images(x, y))
    kinds = {
        "most_ink": (np.argsort(-ink, kind="stable"), ink),
        "least_ink": (np.argsort(ink, kind="stable"), ink),
        "off_centre": (np.argsort(-offset, kind="stable"), offset),
        "atypical": (np.argsort(-atypical, kind="stable"), atypical),
    }
    return {
        kind: [{"index": int(i), "label": int(y[i]), "value": round(float(values[i]), 3)} for i in order[:per_kind]]
        for kind, (order, values) in kinds.items()
    }


def _summary(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
    return {
        "mean": round(float(values.mean()), 3),
        "std": round(float(values.std()), 3),
        "min": round(float(values.min()), 3),
        "max": round(float(values.max()), 3),
    }


def eda_summary(
    *, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> dict[str, Any]:
    """All the numbers behind the figures, JSON-ready."""
    ink = ink_amount(x_train)
    com = centre_of_mass(x_train)
    hist = pixel_histogram(x_train)
    total_pixels = int(hist.sum())
    pixels = x_train.reshape(-1)
    per_class = {}
    for digit in range(NUM_DIGITS):
        mask = y_train == digit
        per_class[str(digit)] = {
            "ink": _summary(ink[mask]),
            "centre_row": _summary(com[mask, 0]),
            "centre_col": _summary(com[mask, 1]),
        }
    train_counts = class_counts(y_train)
    test_counts = class_counts(y_test)
    return {
        "train_size": int(len(x_train)),
        "test_size": int(len(x_test)),
        "image_shape": list(x_train.shape[1:]),
        "dtype": str(x_train.dtype),
        "class_counts": {"train": train_counts, "test": test_counts},
        "class_share": {
            "train": [round(c / max(len(y_train), 1), 4) for c in train_counts],
            "test": [round(c / max(len(y_test), 1), 4) for c in test_counts],
        },
        "imbalance_ratio_train": round(max(train_counts) / max(min(train_counts), 1), 3),
        "pixels": {
            "mean": round(float(pixels.mean()), 3),
            "std": round(float(pixels.std()), 3),
            "share_zero": round(int(hist[0]) / max(total_pixels, 1), 4),
            "share_255": round(int(hist[255]) / max(total_pixels, 1), 4),
            "share_between": round(int(hist[1:255].sum()) / max(total_pixels, 1), 4),
        },
        "ink": _summary(ink),
        "centre_of_mass": {"row": _summary(com[:, 0]), "col": _summary(com[:, 1])},
        "per_class": per_class,
        "odd_samples_train": odd_samples(x_train, y_train),
    }


# --- figures -------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def samples_per_class_plot(x: np.ndarray, y: np.ndarray, path: Path, *, per_class: int = SAMPLES_PER_CLASS, seed=0):
    """A grid: one row per digit, ``per_class`` random samples of it."""
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(NUM_DIGITS, per_class, figsize=(per_class * 0.8, NUM_DIGITS * 0.85), squeeze=False)
    for digit in range(NUM_DIGITS):
        idx = np.flatnonzero(y == digit)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for col in range(per_class):
            ax = axes[digit, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(chosen):
                ax.imshow(x[chosen[col]], cmap="gray_r", vmin=0, vmax=255)
            else:
                ax.axis("off")
        axes[digit, 0].set_ylabel(str(digit), rotation=0, fontsize=13, labelpad=12, va="center")
    fig.suptitle(f"Random training samples, {per_class} per class", y=0.995)
    fig.tight_layout()
    return _save(fig, path)


def class_distribution_plot(y_train: np.ndarray, y_test: np.ndarray, path: Path):
    """Grouped bars: images per digit in train and test (left axis train, right axis test)."""
    plt = _pyplot()
    train, test = np.array(class_counts(y_train)), np.array(class_counts(y_test))
    digits = np.arange(NUM_DIGITS)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.4
    bars_train = ax.bar(digits - width / 2, train, width, label=f"train (n={train.sum():,})", color="#1f77b4")
    ax.set_xlabel("digit")
    ax.set_ylabel("train images", color="#1f77b4")
    ax.set_xticks(digits)
    ax2 = ax.twinx()
    bars_test = ax2.bar(digits + width / 2, test, width, label=f"test (n={test.sum():,})", color="#ff7f0e")
    ax2.set_ylabel("test images", color="#ff7f0e")
    # Same relative scale on both axes so the bars compare shares, not counts.
    ratio = train.sum() / max(test.sum(), 1)
    top = max(train.max(), test.max() * ratio, 1) * 1.15
    ax.set_ylim(0, top)
    ax2.set_ylim(0, top / ratio)
    for bar, count in zip(bars_train, train, strict=True):
        ax.annotate(f"{count:,}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
    for bar, count in zip(bars_test, test, strict=True):
        ax2.annotate(f"{count:,}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                     fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.legend(handles=[bars_train, bars_test], loc="lower right")
    ax.set_title("Class distribution (axes scaled so equal heights mean equal shares)")
    fig.tight_layout()
    return _save(fig, path)


def mean_digit_plot(x: np.ndarray, y: np.ndarray, path: Path):
    """The mean image of each digit (2 x 5), plus the mean of all images."""
    plt = _pyplot()
    means = mean_images(x, y)
    fig, axes = plt.subplots(2, 6, figsize=(10, 3.8))
    for digit in range(NUM_DIGITS):
        ax = axes[digit // 5, digit % 5]
        ax.imshow(means[digit], cmap="magma", vmin=0, vmax=255)
        ax.set_title(f"{digit}  (n={int((y == digit).sum()):,})", fontsize=9)
        ax.axis("off")
    axes[0, 5].imshow(x.mean(axis=0, dtype=np.float64) if len(x) else np.zeros(x.shape[1:]),
                      cmap="magma", vmin=0, vmax=255)
    axes[0, 5].set_title("all digits", fontsize=9)
    axes[0, 5].axis("off")
    axes[1, 5].axis("off")
    fig.suptitle("Mean image per digit (training set)")
    fig.tight_layout()
    return _save(fig, path)


def pixel_histogram_plot(x: np.ndarray, path: Path):
    """Histogram of pixel intensities (log scale: most pixels are 0)."""
    plt = _pyplot()
    hist = pixel_histogram(x)
    total = max(int(hist.sum()), 1)
    fig, (ax_all, ax_ink) = plt.subplots(1, 2, figsize=(11, 4))
    ax_all.bar(np.arange(256), hist, width=1.0, color="#444")
    ax_all.set_yscale("log")
    ax_all.set_xlabel("intensity (0 = background, 255 = full ink)")
    ax_all.set_ylabel("pixels (log scale)")
    ax_all.set_title(f"All pixels: {hist[0] / total:.1%} are 0, {hist[255] / total:.1%} are 255")
    ax_ink.bar(np.arange(1, 256), hist[1:], width=1.0, color="#1f77b4")
    ax_ink.set_xlabel("intensity")
    ax_ink.set_ylabel("pixels")
    ax_ink.set_title("Non-zero pixels only (anti-aliased edges, then saturated strokes)")
    fig.suptitle("Pixel-intensity histogram (training set)")
    fig.tight_layout()
    return _save(fig, path)


def ink_and_centre_plot(x: np.ndarray, y: np.ndarray, path: Path):
    """Left: ink per image by digit (box plot). Right: where the centres of mass fall."""
    plt = _pyplot()
    ink = ink_amount(x)
    com = centre_of_mass(x)
    fig, (ax_ink, ax_com) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
    groups = [ink[y == digit] for digit in range(NUM_DIGITS)]
    ax_ink.boxplot([g if len(g) else [np.nan] for g in groups], showfliers=True, flierprops={"markersize": 1.5})
    ax_ink.set_xticks(range(1, NUM_DIGITS + 1), [str(d) for d in range(NUM_DIGITS)])
    ax_ink.set_xlabel("digit")
    ax_ink.set_ylabel("ink per image (sum of intensities / 255)")
    ax_ink.set_title("Ink amount per class (1s are thin, 0s and 8s heavy)")
    height, width = x.shape[1:]
    h = ax_com.hist2d(com[:, 1], com[:, 0], bins=[np.linspace(9.5, 17.5, 65)] * 2, cmap="viridis", cmin=1)
    fig.colorbar(h[3], ax=ax_com, label="images")
    ax_com.plot([(width - 1) / 2], [(height - 1) / 2], marker="+", color="red", markersize=14, mew=2,
                label="image centre")
    ax_com.invert_yaxis()
    ax_com.set_aspect("equal")
    ax_com.set_xlabel("centre of mass: column (px)")
    ax_com.set_ylabel("centre of mass: row (px)")
    ax_com.set_title(f"Centre-of-mass spread: sd row {com[:, 0].std():.2f} px, col {com[:, 1].std():.2f} px",
                     fontsize=10)
    ax_com.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


ODD_TITLES = {
    "most_ink": "most ink",
    "least_ink": "least ink",
    "off_centre": "centre of mass furthest from the middle (px)",
    "atypical": "furthest from its class mean (atypical / mislabelled?)",
}


def odd_samples_plot(x: np.ndarray, y: np.ndarray, path: Path, *, odd: dict | None = None):
    """One row per criterion of ``odd_samples``: the images with their label and score."""
    plt = _pyplot()
    odd = odd or odd_samples(x, y)
    per_kind = max((len(v) for v in odd.values()), default=1) or 1
    fig, axes = plt.subplots(len(odd), per_kind, figsize=(per_kind * 1.15, len(odd) * 1.55), squeeze=False)
    for row, (kind, samples) in enumerate(odd.items()):
        for col in range(per_kind):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(samples):
                sample = samples[col]
                ax.imshow(x[sample["index"]], cmap="gray_r", vmin=0, vmax=255)
                ax.set_title(f"label {sample['label']}\n{sample['value']:g}", fontsize=7)
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(kind.replace("_", " "), fontsize=9)
        axes[row, per_kind // 2].text(0.5, 1.55, ODD_TITLES.get(kind, kind), transform=axes[row, per_kind // 2].transAxes,
                                      ha="center", fontsize=9, weight="bold")
    fig.suptitle("Odd training samples (score under each label)", y=1.0)
    fig.tight_layout()
    return _save(fig, path)


# --- the report ----------------------------------------------------------------------------------


def eda_report_write(
    *, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, out_dir: Path
) -> dict[str, Any]:
    """Write the six figures and ``eda.json`` into ``out_dir``; return the summary (with file names)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = eda_summary(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    samples_per_class_plot(x_train, y_train, out_dir / "samples_per_class.png")
    class_distribution_plot(y_train, y_test, out_dir / "class_distribution.png")
    mean_digit_plot(x_train, y_train, out_dir / "mean_digit.png")
    pixel_histogram_plot(x_train, out_dir / "pixel_histogram.png")
    ink_and_centre_plot(x_train, y_train, out_dir / "ink_and_centre.png")
    odd_samples_plot(x_train, y_train, out_dir / "odd_samples.png", odd=summary["odd_samples_train"])
    summary["figures"] = list(FIGURES)
    (out_dir / "eda.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
