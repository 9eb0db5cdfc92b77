"""Serving needs no TensorFlow, Keras, scikit-learn or matplotlib: a process where they cannot
be imported loads every module, answers /api/predict, runs a batch job, and train_model says
plainly why it cannot train there."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, subprocess_env
from tests.recognizer.batch_helpers import labelled_zip

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVING_ONLY = r"""
import importlib, json, pkgutil, sys
# What an installation without the training packages looks like: importing them fails, and
# importlib.util.find_spec says they are absent.
for name in ("tensorflow", "keras", "sklearn", "matplotlib"):
    sys.modules[name] = None

import django
django.setup()

imported = []
for package in ("mnistsite", "recognizer", "training"):
    for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        importlib.import_module(module.name)
        imported.append(module.name)

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from tests.images import digit_png

data, label = digit_png(2)
answer = Client().post("/api/predict", {"file": SimpleUploadedFile("d.png", data)})

from recognizer import batch
job = batch.batch_job_create(path=sys.argv[1], queue=False)
job = batch.batch_job_run_sync(job_id=job.pk)

from django.core.management import call_command
from django.core.management.base import CommandError
try:
    call_command("train_model", "--preset", "tiny", "--sync")
    training = "trained"
except CommandError as exc:
    training = str(exc)

print(json.dumps({
    "imported": imported,
    "predict_status": answer.status_code,
    "prediction": answer.json().get("prediction"),
    "label": label,
    "batch": [job.status, job.done, job.total],
    "training": training,
    "loaded": sorted(name for name in ("tensorflow", "keras", "sklearn", "matplotlib") if sys.modules.get(name)),
}))
"""


def test_serving_works_where_training_packages_cannot_be_imported(transactional_db, served_default_model, tmp_path):
    archive = tmp_path / "digits.zip"
    archive.write_bytes(labelled_zip(20))
    result = subprocess.run(
        [sys.executable, "-c", SERVING_ONLY, str(archive)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"recognizer.api", "recognizer.tasks", "training.tasks", "training.train", "mnistsite.celery"} <= set(
        report["imported"]
    )
    assert report["predict_status"] == 200 and report["prediction"] == report["label"]
    assert report["batch"] == ["succeeded", 20, 20]
    assert report["training"].startswith("training needs tensorflow-cpu and keras")
    assert report["loaded"] == []
