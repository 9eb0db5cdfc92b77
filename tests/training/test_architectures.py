import numpy as np
import pytest

from training.architectures import ARCHITECTURES, NUM_CLASSES, architecture_build


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_architecture_outputs_11_probabilities(name):
    model = architecture_build(name)
    assert model.output_shape == (None, NUM_CLASSES)
    probs = np.asarray(model(np.zeros((2, 28, 28, 1), np.float32), training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_complex_cnn_averages_towers_into_one_output():
    model = architecture_build("complex_cnn", width=8, towers=2)
    assert model.output_shape == (None, NUM_CLASSES)
    assert any(layer.__class__.__name__ == "Average" for layer in model.layers)


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        architecture_build("resnet1000")
