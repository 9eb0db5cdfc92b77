"""Export a trained Keras model as model.keras and model.tflite, and check they agree.

The .tflite takes float32 (N, 28, 28, 1) in [0, 1] with a dynamic batch
dimension and outputs the 11 probabilities. TensorFlow is imported lazily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KERAS_NAME = "model.keras"
TFLITE_NAME = "model.tflite"


def tflite_convert(model) -> bytes:
    """Convert with ``from_keras_model``, which keeps the batch dimension dynamic (-1).

    (``from_concrete_functions`` with a Keras 3 model produced NaNs with TF 2.21.)
    """
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def model_export(model, output_dir: Path) -> dict[str, Path]:
    """Write model.keras and model.tflite into ``output_dir``; return their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    keras_path = output_dir / KERAS_NAME
    tflite_path = output_dir / TFLITE_NAME
    model.save(keras_path)
    tflite_path.write_bytes(tflite_convert(model))
    return {"keras": keras_path, "tflite": tflite_path}


def tflite_predict(tflite_path: Path, x: np.ndarray) -> np.ndarray:
    """Run the LiteRT interpreter on a whole batch (the input is resized to N)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(x.shape), strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], np.ascontiguousarray(x, dtype=np.float32))
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    return np.array(interpreter.get_tensor(out["index"]))


def check_parity(keras_model, tflite_path: Path, x_test: np.ndarray) -> dict:
    """Compare Keras and LiteRT predictions: argmax agreement rate and max abs difference."""
    x = np.asarray(x_test, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    expected = keras_model.predict(x, batch_size=1000, verbose=0)
    actual = tflite_predict(tflite_path, x)
    return {
        "images": int(len(x)),
        "argmax_agreement": float(np.mean(np.argmax(expected, axis=1) == np.argmax(actual, axis=1))),
        "max_abs_diff": float(np.max(np.abs(expected - actual))),
    }
