import numpy as np
import pytest

from training.architectures import architecture_build
from training.export import check_parity, model_export, tflite_predict


@pytest.mark.slow
def test_export_writes_a_tflite_with_a_dynamic_batch_that_matches_keras(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    model = architecture_build("complex_cnn", width=4)
    paths = model_export(model, tmp_path)
    assert paths["keras"].is_file() and paths["tflite"].is_file()
    detail = Interpreter(model_path=str(paths["tflite"])).get_input_details()[0]
    assert list(detail["shape_signature"]) == [-1, 28, 28, 1]

    x = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    assert tflite_predict(paths["tflite"], x).shape == (64, 11)
    parity = check_parity(model, paths["tflite"], x)
    assert parity == {"images": 64, "argmax_agreement": 1.0, "max_abs_diff": parity["max_abs_diff"]}
    assert parity["max_abs_diff"] < 1e-5
