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
SATURATED = 250  # intensities from here up count as "full ink"

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


def bounding_box_offset(x: np.ndarray) -> np.ndarray:
    """Distance (px) from the centre of each image's ink bounding box to the image centre; 0 for a blank image.

    MNIST was centred by centre of mass, so this (not the centre of mass) shows lopsided digits.
    """
    inked = x > 0
    height, width = x.shape[1:]
    rows_any, cols_any = inked.any(axis=2), inked.any(axis=1)
    blank = ~rows_any.any(axis=1)
    top = np.argmax(rows_any, axis=1)
    bottom = height - 1 - np.argmax(rows_any[:, ::-1], axis=1)
    left = np.argmax(cols_any, axis=1)
    right = width - 1 - np.argmax(cols_any[:, ::-1], axis=1)
    d_row = (top + bottom) / 2 - (height - 1) / 2
    d_col = (left + right) / 2 - (width - 1) / 2
    offset = np.sqrt(d_row**2 + d_col**2)
    offset[blank] = 0.0
    return offset


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
    offset = bounding_box_offset(x)
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


def eda_summary(*, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
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
            "share_saturated_ge_250": round(int(hist[SATURATED:].sum()) / max(total_pixels, 1), 4),
            "share_grey_1_249": round(int(hist[1:SATURATED].sum()) / max(total_pixels, 1), 4),
        },
        "ink": _summary(ink),
        "centre_of_mass": {"row": _summary(com[:, 0]), "col": _summary(com[:, 1])},
        "bounding_box_offset": _summary(bounding_box_offset(x_train)),
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


def mosaic(images: list[np.ndarray], *, cols: int, pad: int = 3) -> np.ndarray:
    """Tile 28x28 images into one array, ``cols`` per row, ``pad`` pixels of -1 (drawn as a frame) between.

    One imshow of a mosaic is far faster than a matplotlib axes per image.
    """
    height, width = images[0].shape if images else (28, 28)
    rows = max(1, -(-len(images) // cols))
    canvas = np.full((rows * (height + pad) + pad, cols * (width + pad) + pad), -1.0)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        canvas[top : top + height, left : left + width] = image
    return canvas


def _mosaic_show(ax, canvas: np.ndarray, *, frame: str = "#c9d6e3") -> None:
    import matplotlib

    cmap = matplotlib.colormaps["gray_r"].with_extremes(under=frame)
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def samples_per_class_plot(x: np.ndarray, y: np.ndarray, path: Path, *, per_class: int = SAMPLES_PER_CLASS, seed=0):
    """A grid: one row per digit, ``per_class`` random samples of it (blank where a class has fewer)."""
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    blank = np.zeros(x.shape[1:])
    tiles = []
    for digit in range(NUM_DIGITS):
        idx = np.flatnonzero(y == digit)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        tiles += [x[i] for i in chosen] + [blank] * (per_class - len(chosen))
    pad = 2
    canvas = mosaic(tiles, cols=per_class, pad=pad)
    fig, ax = plt.subplots(figsize=(per_class * 0.75, NUM_DIGITS * 0.75 + 0.5))
    _mosaic_show(ax, canvas)
    step = x.shape[1] + pad
    ax.set_yticks([pad + step * d + x.shape[1] / 2 for d in range(NUM_DIGITS)], [str(d) for d in range(NUM_DIGITS)])
    ax.tick_params(axis="y", length=0, labelsize=13)
    ax.set_title(f"Random training samples, {per_class} per class")
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
    top = max(train.max(), test.max() * ratio, 1) * 1.3
    ax.set_ylim(0, top)
    ax2.set_ylim(0, top / ratio)
    for axis, bars, counts in ((ax, bars_train, train), (ax2, bars_test, test)):
        for bar, count in zip(bars, counts, strict=True):
            axis.annotate(
                f"{count:,}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.legend(handles=[bars_train, bars_test], loc="upper center", ncol=2, frameon=False)
    ax.set_title("Class distribution (axes scaled so equal heights mean equal shares)")
    fig.tight_layout()
    return _save(fig, path)


def mean_digit_plot(x: np.ndarray, y: np.ndarray, path: Path):
    """The mean image of each digit (2 x 5), plus the mean of all images."""
    plt = _pyplot()
    means = mean_images(x, y)
    fig, axes = plt.subplots(2, 6, figsize=(10, 4.4))
    for digit in range(NUM_DIGITS):
        ax = axes[digit // 5, digit % 5]
        ax.imshow(means[digit], cmap="magma", vmin=0, vmax=255)
        ax.set_title(f"{digit}  (n={int((y == digit).sum()):,})", fontsize=9)
        ax.axis("off")
    axes[0, 5].imshow(
        x.mean(axis=0, dtype=np.float64) if len(x) else np.zeros(x.shape[1:]), cmap="magma", vmin=0, vmax=255
    )
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
    ax_all.set_title(f"{hist[0] / total:.1%} of pixels are 0; spikes near 255 are saturated strokes", fontsize=10)
    bands = {
        "background\n(0)": hist[0],
        f"grey edges\n(1-{SATURATED - 1})": hist[1:SATURATED].sum(),
        f"saturated\n({SATURATED}-255)": hist[SATURATED:].sum(),
    }
    bars = ax_ink.bar(list(bands), [v / total for v in bands.values()], color=["#bbb", "#888", "#222"])
    for bar, value in zip(bars, bands.values(), strict=True):
        ax_ink.annotate(
            f"{value / total:.1%}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax_ink.set_ylim(0, 1.05)
    ax_ink.set_ylabel("share of all pixels")
    inked = max(total - int(hist[0]), 1)
    ax_ink.set_title(
        f"Of the inked pixels, {hist[1:SATURATED].sum() / inked:.0%} are grey (anti-aliasing), "
        f"{hist[SATURATED:].sum() / inked:.0%} saturated",
        fontsize=10,
    )
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
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    edges_row = np.linspace(centre_row - 1.5, centre_row + 1.5, 31)
    edges_col = np.linspace(centre_col - 1.5, centre_col + 1.5, 31)
    h = ax_com.hist2d(com[:, 1], com[:, 0], bins=[edges_col, edges_row], cmap="viridis", cmin=1)
    fig.colorbar(h[3], ax=ax_com, label="images")
    ax_com.plot([centre_col], [centre_row], marker="+", color="red", markersize=14, mew=2, label="image centre")
    ax_com.invert_yaxis()
    ax_com.set_aspect("equal")
    ax_com.set_xlabel("centre of mass: column (px)")
    ax_com.set_ylabel("centre of mass: row (px)")
    ax_com.set_title(
        f"Centre of mass (sd {com[:, 0].std():.2f} px rows, {com[:, 1].std():.2f} px columns):\n"
        "MNIST shifted each digit to put it in the central pixel",
        fontsize=10,
    )
    ax_com.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


ODD_TITLES = {
    "most_ink": "most ink\n(ink)",
    "least_ink": "least ink\n(ink)",
    "off_centre": "lopsided: ink box\noff centre (px)",
    "atypical": "atypical: far from\nclass mean (L2)",
}


def odd_samples_plot(x: np.ndarray, y: np.ndarray, path: Path, *, odd: dict | None = None):
    """One row per criterion of ``odd_samples``: the images, each captioned with its label and score."""
    plt = _pyplot()
    odd = odd or odd_samples(x, y)
    per_kind = max((len(v) for v in odd.values()), default=1) or 1
    pad = 12  # room for the captions
    from matplotlib.patches import Rectangle

    size = x.shape[1]
    fig, axes = plt.subplots(len(odd), 1, figsize=(per_kind * 1.05 + 1.6, len(odd) * 1.25 + 0.4), squeeze=False)
    for row, (kind, samples) in enumerate(odd.items()):
        ax = axes[row, 0]
        canvas = mosaic([x[s["index"]] for s in samples], cols=per_kind, pad=pad)
        canvas[canvas < 0] = 0  # white gaps, the captions sit in them
        _mosaic_show(ax, canvas)
        for col in range(len(samples)):  # a thin frame shows where each 28x28 image ends
            left = pad + col * (size + pad) - 0.5
            ax.add_patch(Rectangle((left, pad - 0.5), size, size, fill=False, edgecolor="#8899aa", linewidth=0.6))
        for col, sample in enumerate(samples):
            ax.text(
                pad + col * (x.shape[2] + pad) + x.shape[2] / 2,
                pad - 1.5,
                f"{sample['label']}  ({sample['value']:.1f})",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_ylabel(ODD_TITLES.get(kind, kind), fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle("Odd training samples, most extreme first: label (score)")
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
