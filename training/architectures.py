"""Keras model builders, looked up by name.

Every model takes float32 input of shape (N, 28, 28, 1) in [0, 1] (ink high)
and outputs 11 softmax probabilities: digits 0-9, then "not a digit".
Keras is imported inside the builders so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NUM_CLASSES = 11  # digits 0-9 plus "not a digit"
NOT_A_DIGIT = 10
INPUT_SHAPE = (28, 28, 1)


def _inputs():
    import keras

    return keras.Input(shape=INPUT_SHAPE, name="image")


def build_mlp(*, dropout: float = 0.2):
    """Two hidden dense layers: the baseline of the comparison report."""
    import keras
    from keras import layers

    inputs = _inputs()
    x = layers.Flatten()(inputs)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_simple_cnn(*, dropout: float = 0.5):
    """The keras-io ``mnist_convnet`` example, with 11 outputs."""
    import keras
    from keras import layers

    inputs = _inputs()
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="simple_cnn")


def _conv_bn(x, filters: int, kernel: int, *, strides: int = 1, padding: str = "valid"):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _complex_tower(x, *, width: int, dropout: float):
    """A BatchNorm CNN shaped for CPU training: only one convolution at full
    resolution, then 12x12 -> 6x6 -> 2x2 feature maps of doubling width.

    28 -> (5x5) 24 -> pool 12 -> 3x3, 3x3 -> pool 6 -> (3x3) 4 -> (3x3) 2.
    """
    from keras import layers

    x = _conv_bn(x, width, 5)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn(x, 2 * width, 3, padding="same")
    x = _conv_bn(x, 2 * width, 3, padding="same")
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(dropout)(x)
    x = _conv_bn(x, 4 * width, 3)
    x = _conv_bn(x, 4 * width, 3)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(NUM_CLASSES)(x)


def build_complex_cnn(*, width: int = 32, dropout: float = 0.3, towers: int = 1):
    """The final model: one or more BatchNorm CNN towers whose softmax outputs
    are averaged inside the model, so it still exports as a single graph."""
    import keras
    from keras import layers

    inputs = _inputs()
    probs = [layers.Activation("softmax")(_complex_tower(inputs, width=width, dropout=dropout)) for _ in range(towers)]
    outputs = probs[0] if towers == 1 else layers.Average()(probs)
    outputs = layers.Activation("linear", name="probabilities")(outputs)
    return keras.Model(inputs, outputs, name="complex_cnn")


ARCHITECTURES: dict[str, Callable[..., Any]] = {
    "mlp": build_mlp,
    "simple_cnn": build_simple_cnn,
    "complex_cnn": build_complex_cnn,
}


def architecture_build(name: str, **options: Any):
    """Return a new, uncompiled ``keras.Model`` for the architecture ``name``."""
    try:
        builder = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {sorted(ARCHITECTURES)}") from None
    return builder(**options)
