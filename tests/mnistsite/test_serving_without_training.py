"""Serving needs no TensorFlow, Keras, scikit-learn or matplotlib: bin/check_serving.py, run
here with those imports made to fail, loads every module, answers /api/predict, runs a batch
job, and train_model says plainly that training needs the training extra. CI runs the same
script for real in a venv of requirements-serving.txt alone (bin/check-serving)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_serving_works_where_training_packages_cannot_be_imported(transactional_db, served_default_model):
    result = subprocess.run(
        [sys.executable, "bin/check_serving.py", "--block-training"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0 and report["ok"], report.get("reason") or result.stderr[-3000:]
    assert {"recognizer.api", "recognizer.tasks", "training.tasks", "training.train", "mnistsite.celery"} <= set(
        report["imported"]
    )
    assert report["batch"] == ["succeeded", 20, 20]
    assert "the `training` extra" in report["training"]
    assert "requirements.txt" in report["training"]
