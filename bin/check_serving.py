"""Serving works without the training packages: run with the Python of a venv built from
requirements-serving.txt alone (`bin/check-serving`, which CI runs), or with --block-training
in a full venv (tests/mnistsite/test_serving_without_training.py), where importing them is
made to fail.

On the database and broker of the environment (DATABASE_URL, CELERY_BROKER_URL), it migrates,
registers the shipped model, imports every module of the apps, answers /api/predict, runs a
batch job's chunk in this process, and checks that train_model says that training needs the
training extra. Prints one JSON line; exits 1 with the reason when a check fails.
"""

import argparse
import importlib
import importlib.util
import json
import os
import pkgutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")

TRAINING_ONLY = ("tensorflow", "keras", "sklearn", "matplotlib")
# Every package of the project that the web or the batch worker may import.
PACKAGES = ("mnistsite", "recognizer", "training", "vision")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--block-training",
        action="store_true",
        help="make importing the training packages fail (for a venv where they are installed)",
    )
    options = parser.parse_args()
    if options.block_training:
        for name in TRAINING_ONLY:
            sys.modules[name] = None  # import fails; importlib.util.find_spec says absent
    installed = [name for name in TRAINING_ONLY if importlib.util.find_spec(name) is not None]
    if installed:
        return fail(f"training packages are importable here: {installed}")

    import django

    django.setup()
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.test import Client

    call_command("migrate", "--noinput", verbosity=0)
    from training.services import model_version_ensure_default

    if model_version_ensure_default() is None:
        return fail("no shipped model in models/default")

    imported = []
    for package in PACKAGES:
        if importlib.util.find_spec(package) is None:
            continue
        for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            importlib.import_module(module.name)
            imported.append(module.name)

    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.images import digit_png
    from tests.recognizer.batch_helpers import labelled_zip

    data, label = digit_png(2)
    answer = Client().post("/api/predict", {"file": SimpleUploadedFile("d.png", data)})
    if answer.status_code != 200 or answer.json().get("prediction") != label:
        return fail(f"/api/predict answered {answer.status_code}: {answer.content[:300]!r}, expected {label}")

    from recognizer import batch

    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "digits.zip"
        archive.write_bytes(labelled_zip(20))
        job = batch.batch_job_create(path=str(archive), queue=False)
        job = batch.batch_job_run_sync(job_id=job.pk)
    if (job.status, job.done, job.total) != ("succeeded", 20, 20):
        return fail(f"batch job {job.pk}: {job.status}, {job.done} of {job.total} done: {job.error}")

    try:
        call_command("train_model", "--preset", "tiny", "--sync")
        return fail("train_model trained without the training packages")
    except CommandError as exc:
        training = str(exc)
    if not training.startswith("training needs tensorflow-cpu and keras"):
        return fail(f"train_model said: {training}")

    loaded = sorted(name for name in TRAINING_ONLY if sys.modules.get(name))
    if loaded:
        return fail(f"loaded: {loaded}")
    print(
        json.dumps(
            {
                "ok": True,
                "python": sys.executable,
                "imported": imported,
                "prediction": answer.json()["prediction"],
                "batch": [job.status, job.done, job.total],
                "training": training,
            }
        )
    )
    return 0


def fail(reason: str) -> int:
    print(json.dumps({"ok": False, "reason": reason}))
    return 1


if __name__ == "__main__":
    sys.exit(main())
