"""The earlier approach, for comparison: a Flask endpoint that calls Keras `model.predict`
on one image per request (grayscale, resize to 28x28, /255). Run by bench/predict_load.py."""

import io
import os

import numpy as np
from flask import Flask, jsonify, request
from PIL import Image

app = Flask(__name__)
_model = None


def model():
    global _model
    if _model is None:
        import keras

        _model = keras.models.load_model(os.environ["BASELINE_MODEL"], compile=False)
    return _model


@app.post("/predict")
def predict():
    image = Image.open(io.BytesIO(request.files["file"].read())).convert("L").resize((28, 28))
    batch = (np.asarray(image, dtype=np.float32) / 255.0).reshape(1, 28, 28, 1)
    probs = model().predict(batch, verbose=0)[0][:10]
    return jsonify({"prediction": int(np.argmax(probs)), "confidence": float(np.max(probs)), "probs": probs.tolist()})


@app.get("/health")
def health():
    return jsonify({"status": "ok", "model_loaded": _model is not None})
