"""The shipped model files load with the installed TensorFlow, Keras and LiteRT and agree: a
dependency upgrade that changes how either file loads or computes fails here."""

import numpy as np
import pytest
from django.conf import settings

from tests.images import mnist_sample
from training.export import check_parity, tflite_predict


@pytest.mark.slow
def test_the_shipped_keras_and_tflite_models_load_and_predict_the_same_on_mnist_test_digits():
    import keras

    images, labels = mnist_sample()
    x = (images.astype(np.float32) / 255.0)[..., None]
    directory = settings.DEFAULT_MODEL_DIR
    model = keras.saving.load_model(directory / "model.keras")
    parity = check_parity(model, directory / "model.tflite", x)
    assert parity["images"] == len(labels)
    assert parity["argmax_agreement"] == 1.0
    assert parity["max_abs_diff"] < 1e-5  # metrics.json recorded 9.5e-7 at export
    assert (tflite_predict(directory / "model.tflite", x).argmax(axis=1) == labels).all()
