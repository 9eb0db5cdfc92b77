import numpy as np
import pytest
from PIL import Image

from training import datasets, negatives

GENERATORS = {**negatives.NEGATIVE_GENERATORS, "font_digit": lambda rng: negatives.font_digit(rng)[0]}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_draws_dark_ink_on_a_white_canvas(name):
    img = GENERATORS[name](np.random.default_rng(0))
    assert img.mode == "L" and img.size == (negatives.CANVAS, negatives.CANVAS)
    pixels = np.asarray(img)
    assert np.median(pixels) > 200 and pixels.min() < 100


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generated_images_pass_through_the_service_preprocessing(name):
    rng = np.random.default_rng(1)
    outputs = [negatives.to_model_input(GENERATORS[name](rng)) for _ in range(5)]
    kept = [o for o in outputs if o is not None]
    assert kept, "every image was rejected"
    for pixels in kept:
        assert pixels.shape == (28, 28) and pixels.dtype == np.float32
        assert pixels.min() >= 0.0 and pixels.max() <= 1.0 and pixels.max() > 0.5


def test_to_model_input_rejects_a_blank_canvas():
    assert negatives.to_model_input(Image.new("L", (200, 200), 255)) is None


def test_font_digit_is_labelled_with_its_digit():
    labels = {negatives.font_digit(np.random.default_rng(seed))[1] for seed in range(30)}
    assert labels <= set(range(10)) and len(labels) > 3


def test_negative_characters_exclude_digit_look_alikes():
    for char in "0123456789OoIlSsZzBgq/|()$":
        assert char not in negatives.LETTERS + negatives.SYMBOLS


def test_missing_fashion_mnist_falls_back_to_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(negatives, "FASHION_MNIST_DIRS", (tmp_path / "absent",))
    assert negatives.fashion_mnist_images(10, np.random.default_rng(0)) == []
    x, y = datasets.extras_generate(counts={"fashion": 5, "blobs": 3}, seed=0)
    assert len(x) == 3 and set(y) == {10}


def test_extras_generate_labels_negatives_10_and_digits_0_to_9():
    x, y = datasets.extras_generate(counts={"font_digits": 6, "letters": 4, "scribbles": 2}, seed=3)
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8
    assert (y == 10).sum() == 6 and (y < 10).sum() == 6


def test_extras_load_reuses_the_cache(tmp_path, monkeypatch):
    counts = {"symbols": 3}
    first = datasets.extras_load(counts=counts, seed=5, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("extras-*.npz"))) == 1

    def fail(**kwargs):
        raise AssertionError("regenerated instead of using the cache")

    monkeypatch.setattr(datasets, "extras_generate", fail)
    second = datasets.extras_load(counts=counts, seed=5, cache_dir=tmp_path)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_training_set_build_appends_extras_to_mnist(tmp_path):
    x_mnist = np.zeros((10, 28, 28), np.uint8)
    y_mnist = np.arange(10, dtype=np.uint8)
    x, y = datasets.training_set_build(
        x_mnist=x_mnist, y_mnist=y_mnist, seed=0, cache_dir=tmp_path, counts={"blobs": 4}
    )
    assert x.shape == (14, 28, 28)
    assert sorted(y.tolist()) == list(range(10)) + [10] * 4


def test_the_progress_total_leaves_out_fashion_mnist_when_it_is_not_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(negatives, "FASHION_MNIST_DIRS", (tmp_path,))
    seen = []
    datasets.extras_generate(
        counts={"fashion": 5, "blobs": 3}, seed=1, on_progress=lambda message, done, total: seen.append((done, total))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
