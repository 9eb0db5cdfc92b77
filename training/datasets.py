"""Training-set assembly: MNIST plus generated typed digits and "not a digit" negatives.

Generated images go through the service's preprocessing and are cached under
``cache_dir`` as an ``.npz`` keyed by the counts, the seed and the source of
the generators and of the preprocessing, so a change to either regenerates.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from training import negatives
from training.architectures import NOT_A_DIGIT

logger = logging.getLogger(__name__)

# About 17k generated images on top of MNIST's 60k keeps an epoch affordable.
DEFAULT_EXTRAS: dict[str, int] = {
    "font_digits": 6000,
    "fashion": 3500,
    "letters": 3500,
    "symbols": 1500,
    "scribbles": 1500,
    "blobs": 1000,
}
MAX_ATTEMPTS_FACTOR = 3  # give up on a generator after 3x its count of rejections
PROGRESS_POLL_SECONDS = 0.5  # how often the parent reads the pool's count of images made
# Told of generated images: (message, done, total).
Made = Callable[[str, int, int], None]


def _source_digest() -> str:
    from vision import decode, preprocess

    digest = hashlib.sha256()
    for module in (negatives, decode, preprocess):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)


# In a pool process: a counter shared with the parent, which reads it to show progress.
_made = None


def _pool_init(counter) -> None:
    global _made
    _made = counter


def _count_one() -> None:
    if _made is not None:
        with _made.get_lock():
            _made.value += 1


def _generate(images, count: int, name: str, made: Callable[[], None]) -> tuple[list[np.ndarray], list[int]]:
    xs: list[np.ndarray] = []
    ys: list[int] = []
    rejected = 0
    for img, label in images:
        pixels = negatives.to_model_input(img)
        if pixels is None:
            rejected += 1
            if rejected > MAX_ATTEMPTS_FACTOR * count:
                break
            continue
        xs.append(_to_uint8(pixels))
        ys.append(label)
        made()
        if len(xs) >= count:
            break
    if len(xs) < count:
        logger.warning("%s: only %d of %d images (%d rejected)", name, len(xs), count, rejected)
    else:
        logger.info("%s: %d images (%d rejected by preprocessing)", name, len(xs), rejected)
    return xs, ys


def _generate_one(
    name: str, count: int, seed: int, index: int, made: Callable[[], None] = _count_one
) -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng([seed, index])
    if name == "font_digits":
        stream = (negatives.font_digit(rng) for _ in iter(int, 1))
    elif name == "fashion":
        stream = ((img, NOT_A_DIGIT) for img in negatives.fashion_mnist_images(count * 2, rng))
    elif name in negatives.NEGATIVE_GENERATORS:
        generator = negatives.NEGATIVE_GENERATORS[name]
        stream = ((generator(rng), NOT_A_DIGIT) for _ in iter(int, 1))
    else:
        raise ValueError(f"unknown generator {name!r}")
    return _generate(stream, count, name, made)


def extras_generate(
    *, counts: dict[str, int], seed: int, processes: int = 1, on_progress: Made | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the extra images (uint8, (N, 28, 28)) and labels (0-9 for typed digits, 10 otherwise).

    Each generator has its own random stream, so the result does not depend on ``processes``.
    ``on_progress(message, done, total)`` hears of the images as they are made.
    """
    jobs = [(name, count, seed, index) for index, (name, count) in enumerate(sorted(counts.items())) if count > 0]
    # Images that cannot be made (Fashion-MNIST not installed) are not promised in the total.
    total = sum(count for name, count, *_ in jobs if name != "fashion" or negatives.fashion_mnist_path())
    tell = on_progress or (lambda message, done, total: None)
    import multiprocessing

    # A Celery prefork child is daemonic and may not start processes of its own.
    if multiprocessing.current_process().daemon:
        processes = 1
    if processes > 1 and len(jobs) > 1:
        context = multiprocessing.get_context("spawn")
        made = context.Value("l", 0)
        with context.Pool(processes, initializer=_pool_init, initargs=(made,)) as pool:
            pending = pool.starmap_async(_generate_one, jobs)
            while not pending.ready():
                pending.wait(PROGRESS_POLL_SECONDS)
                tell(f"in {processes} processes", made.value, total)
            results = pending.get()
    else:
        done = 0

        def made_here() -> None:
            nonlocal done
            done += 1
            tell("in one process", done, total)

        results = [_generate_one(*job, made=made_here) for job in jobs]
    xs = [x for gx, _ in results for x in gx]
    ys = [y for _, gy in results for y in gy]
    if not xs:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.uint8)
    return np.stack(xs), np.asarray(ys, dtype=np.uint8)


def extras_load(
    *,
    counts: dict[str, int] | None = None,
    seed: int,
    cache_dir: Path | None,
    processes: int = 2,
    on_progress: Made | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generated extras, from the cache when present."""
    counts = dict(DEFAULT_EXTRAS if counts is None else counts)
    key = hashlib.sha256(
        json.dumps({"counts": counts, "seed": seed, "source": _source_digest()}, sort_keys=True).encode()
    ).hexdigest()[:16]
    path = None if cache_dir is None else Path(cache_dir) / f"extras-{key}.npz"
    tell = on_progress or (lambda message, done, total: None)
    if path is not None and path.is_file():
        with np.load(path) as cached:
            x, y = cached["x"], cached["y"]
        tell(f"from the cache {path}", len(x), len(x))
        return x, y
    started = time.monotonic()
    x, y = extras_generate(counts=counts, seed=seed, processes=processes, on_progress=on_progress)
    logger.info("generated %d extra images in %.0f s", len(x), time.monotonic() - started)
    if path is not None:
        tell(f"saving them to {path}", len(x), len(x))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, x=x, y=y)
        tmp.replace(path)
    return x, y


def extras_scaled(counts: dict[str, int], fraction: float) -> dict[str, int]:
    """The same mix, scaled (for small training runs)."""
    return {name: int(round(n * fraction)) for name, n in counts.items()}


def training_set_build(
    *,
    x_mnist: np.ndarray,
    y_mnist: np.ndarray,
    seed: int,
    cache_dir: Path | None,
    counts: dict[str, int] | None = None,
    on_progress: Made | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training images plus the generated extras, shuffled (uint8 images, uint8 labels)."""
    x_extra, y_extra = extras_load(counts=counts, seed=seed, cache_dir=cache_dir, on_progress=on_progress)
    x = np.concatenate([x_mnist.astype(np.uint8), x_extra])
    y = np.concatenate([y_mnist.astype(np.uint8), y_extra])
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order], y[order]


def field_mix(
    *, x: np.ndarray, y: np.ndarray, field_x: np.ndarray, field_y: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """The training images plus field-train repeated until it is about ``share`` of the
    result (at least once; the pipeline augments every repeat differently), shuffled.
    Returns (x, y, number of field images added). "Not a digit" reviews are label 10, the
    model's own extra class."""
    if not len(field_x):
        return x, y, 0
    repeats = max(1, int(round(share * len(x) / ((1.0 - share) * len(field_x)))))
    added_x = np.tile(field_x.astype(np.uint8), (repeats, 1, 1))
    added_y = np.tile(field_y.astype(np.uint8), repeats)
    x_all = np.concatenate([x.astype(np.uint8), added_x])
    y_all = np.concatenate([y.astype(np.uint8), added_y])
    order = np.random.default_rng(seed).permutation(len(x_all))
    return x_all[order], y_all[order], int(len(added_x))
