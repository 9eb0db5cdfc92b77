"""The review loop, end to end: a population the model reads poorly, reviewed, trained on, read again.

    .venv/bin/python bench/review_loop.py [--keep]

1. Renders 600 digits in a style the model has not seen: MNIST training digits made
   into low-resolution scans with a thick marker, blur, paper grain and a wide margin
   (never /work/shared: that is for measuring).
2. Uploads them through POST /api/predict (Django's test client, the real view).
3. Reviews 480 with their true label as staff: the review API when it exists, else the
   service recognizer.services.prediction_review.
4. Runs ``train_model --preset finetune --with-reviews --sync --json`` (in this process,
   as --wait would on a worker) and times it.
5. Uploads the other 120 again and compares accuracy before and after.
6. After it went live: ``--fresh`` more images of the population (another seed) are uploaded
   and reviewed, and the new version's field calibration is refitted on the field-train
   reviews it never trained on (what ``evaluate_field`` and the workers' sweep do); the 2,000
   more images (and ``../shared/realworld-dev`` when it is there, measured only) are scored
   with its one temperature and with the field calibration.

Everything lives in its own folder (var/review-loop: SQLite database, media, model
versions), so it never touches the site's data. Prints one JSON summary at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
POPULATION = 600
REVIEWED = 480
SEED = 2026


MARKERS = (3, 5)


def degraded_scan(digit: np.ndarray, rng: np.random.Generator, *, markers: tuple[int, ...] = MARKERS) -> bytes:
    """One MNIST digit (28x28, white on black) as a poor scan: dark ink on grey paper,
    a thick marker, read at 10-13 px and blown up again, blurred, grainy, off centre in a wide margin.
    ``markers``: the marker widths drawn from (5 closes loops at this size: many such digits
    are illegible; (3,) leaves a population people read: README, "The loop, measured")."""
    ink = Image.fromarray(255 - digit)  # dark on light
    ink = ink.filter(ImageFilter.MinFilter(int(rng.choice(markers))))  # thick marker
    low = int(rng.integers(10, 14))
    ink = ink.resize((low, low), Image.BILINEAR).resize((84, 84), Image.NEAREST)  # low resolution, blocky
    ink = ink.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.8, 2.0))))
    ink = ink.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR, fillcolor=255)
    side = 200
    paper = np.full((side, side), float(rng.uniform(170, 215)), dtype=np.float32)
    x0, y0 = rng.integers(20, side - 84 - 20, size=2)
    patch = np.asarray(ink, dtype=np.float32) / 255.0
    paper[y0 : y0 + 84, x0 : x0 + 84] *= patch
    paper += rng.normal(0, 12, paper.shape)  # grain
    out = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=int(rng.integers(40, 70)))
    return buffer.getvalue()


def population_build(
    x: np.ndarray, y: np.ndarray, *, seed: int = SEED, size: int = POPULATION, markers: tuple[int, ...] = MARKERS
) -> list[tuple[bytes, int]]:
    """``size`` training digits, picked and degraded with ``seed`` (SEED: the reported loop;
    bench/finetune_recipes.py tunes on others)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=size, replace=False)
    return [(degraded_scan(x[i], rng, markers=markers), int(y[i])) for i in pick]


def setup_django(folder: Path) -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder / 'db.sqlite3'}")
    os.environ.setdefault("CELERY_BROKER_URL", f"embedded+sqlite:///{folder / 'broker.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    os.environ["MODEL_DIR"] = str(folder / "models")
    os.environ["MNIST_DIR"] = os.environ.get("MNIST_DIR", str(ROOT / "data" / "mnist"))
    os.environ["PREDICT_RATE_LIMIT"] = "off"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def upload(client, data: bytes, name: str) -> dict:
    response = client.post("/api/predict", {"file": io.BytesIO(data)}, format="multipart")
    if response.status_code != 201 and response.status_code != 200:
        raise RuntimeError(f"upload {name}: {response.status_code} {response.content[:200]!r}")
    return response.json()


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the generator pool)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def accuracy(answers: list[dict], labels: list[int]) -> float:
    return float(np.mean([a.get("prediction") == label for a, label in zip(answers, labels, strict=True)]))


def served(version, items: list[tuple[bytes, int]], *, field: dict | None = None) -> dict:
    """The version on the items as served (preprocessing, its temperature and ``field``
    calibration when given, the decision rule):
    accuracy, and the ECE of its calibrated probabilities on the images preprocessing kept
    with the ECE a perfectly calibrated model would show there by chance (ece_of_calibrated),
    and the lowest ECE any one temperature reaches there (fitted on these very images: a
    diagnosis of what temperature scaling can do, never a served model)."""
    from vision.calibration import (
        calibrated_probabilities,
        ece_of_calibrated,
        expected_calibration_error,
        temperature_apply,
        temperature_fit,
    )
    from vision.infer import DigitClassifier, decide_rows
    from vision.preprocess import preprocess_bytes

    pixels = [preprocess_bytes(data).pixels for data, _ in items]
    kept = np.asarray([p is not None for p in pixels])
    shown = [p if p is not None else np.zeros((28, 28), np.float32) for p in pixels]
    raw = DigitClassifier(version.tflite_path).classify(np.stack(shown))
    probs = calibrated_probabilities(raw, np.stack(shown), temperature=version.temperature, field=field)
    answers = [d.digit if p is not None else None for d, p in zip(decide_rows(probs), pixels, strict=True)]
    labels = np.asarray([label for _, label in items])
    chance = ece_of_calibrated(probs[kept].max(axis=1))
    own_t = temperature_fit(raw[kept], labels[kept])
    return {
        "n": len(items),
        "accuracy": round(float(np.mean([a == label for a, label in zip(answers, labels, strict=True)])), 4),
        "ece": round(expected_calibration_error(probs[kept], labels[kept]), 4),
        "ece_if_calibrated": {k: round(v, 4) for k, v in chance.items()},
        "temperature": version.temperature,
        "own_temperature": round(own_t, 3),
        "ece_at_own_temperature": round(
            expected_calibration_error(temperature_apply(raw[kept], own_t), labels[kept]), 4
        ),
    }


def realworld_dev(version, *, field: dict | None) -> dict | None:
    """``../shared/realworld-dev`` as ``evaluate_uploads`` scores it (measured, never fitted
    on), with the version's temperature and ``field`` calibration; None when it is not there."""
    from recognizer.evaluation import evaluate_directory, missed_targets
    from vision.infer import DigitClassifier, decide

    folder = ROOT.parent / "shared" / "realworld-dev"
    if not (folder / "labels.csv").is_file():
        return None
    classifier = DigitClassifier(version.tflite_path, temperature=version.temperature, field_calibration=field)
    result = evaluate_directory(
        folder, folder / "labels.csv", classifier.classify, decide=lambda row: decide(row).digit
    )
    overall = result["overall"]
    return {
        "digit_accuracy": round(overall["digit_accuracy"], 4),
        "digits_rejected": round(overall["digit_rejected_rate"], 4),
        "non_digits_rejected": round(overall["non_digit_rejection"], 4),
        "ece": round(result["calibration"]["ece"], 4),
        "missed_targets": missed_targets(result),
    }


def post_live_reviews(client, staff, x_train, y_train, *, seed: int, size: int, version) -> dict:
    """``size`` more images of the population (``seed``), uploaded and reviewed after the new
    version went live; then its field calibration is refitted as evaluate_field does (on the
    field-train reviews it never trained on). Returns the stored calibration."""
    from recognizer.field import field_scores_update

    fresh = population_build(x_train, y_train, seed=seed, size=size)
    for i, (data, label) in enumerate(fresh):
        review(staff, upload(client, data, f"fresh {i}")["id"], label)
    field_scores_update(versions=[version])
    version.refresh_from_db()
    return version.field_calibration


def candidate_accuracy(version, items: list[tuple[bytes, int]]) -> float:
    return served(version, items)["accuracy"]


def field_test_chance(version) -> dict:
    """The ECE a perfectly calibrated model shows on field-test by chance alone, with the
    version's own calibrated confidences there: what an ECE measured on ~100 images can tell."""
    from recognizer.field import field_set_arrays
    from vision.calibration import ece_of_calibrated
    from vision.infer import DigitClassifier

    x = field_set_arrays()["x_test"]
    probs = DigitClassifier(version.tflite_path, temperature=version.temperature).classify(x.astype(np.float32) / 255)
    return {k: round(v, 4) for k, v in ece_of_calibrated(probs.max(axis=1)).items()}


def review(staff, prediction_id: int, label: int) -> str:
    """Through the review API when it is there; else the service."""
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("api-prediction-review", args=[prediction_id])
    except NoReverseMatch:
        url = None
    if url is not None:
        response = staff.post(url, {"label": label}, content_type="application/json")
        if response.status_code == 200:
            return "api"
    from recognizer.models import Prediction
    from recognizer.services import prediction_review

    prediction_review(prediction=Prediction.objects.get(pk=prediction_id), true_label=label, reviewer=staff.user)
    return "service"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "review-loop")
    parser.add_argument("--keep", action="store_true", help="Keep the folder of an earlier run (default: start fresh).")
    parser.add_argument(
        "--seed", type=int, default=SEED, help=f"population seed ({SEED}: the reported run; tune recipes on others)"
    )
    parser.add_argument(
        "--more",
        type=int,
        default=2000,
        help="more images of the population, never reviewed, scored offline before and after (accuracy, ECE)",
    )
    parser.add_argument(
        "--fresh",
        type=int,
        default=300,
        help="images of the population reviewed after the new version went live: its field calibration's fit set",
    )
    args = parser.parse_args(argv)
    if args.folder.exists() and not args.keep:
        shutil.rmtree(args.folder)
    args.folder.mkdir(parents=True, exist_ok=True)
    setup_django(args.folder)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from training.data import load_mnist
    from training.models import ModelVersion

    x_train, y_train, _, _ = load_mnist(Path(os.environ["MNIST_DIR"]))
    population = population_build(x_train, y_train, seed=args.seed)
    labels = [label for _, label in population]
    client = APIClient()
    answers = [upload(client, data, f"item {i}") for i, (data, _) in enumerate(population)]
    before_version = ModelVersion.objects.get(is_active=True)

    user = get_user_model().objects.create_user("loop-reviewer", is_staff=True)  # no password: no login
    staff = APIClient()
    staff.force_authenticate(user)
    staff.user = user
    ways = {review(staff, answers[i]["id"], labels[i]) for i in range(REVIEWED)}

    held = range(REVIEWED, POPULATION)
    before_all = accuracy(answers, labels)
    before_held = accuracy([answers[i] for i in held], [labels[i] for i in held])

    out = io.StringIO()
    started, cpu_started = time.monotonic(), cpu_seconds()
    call_command("train_model", preset="finetune", with_reviews=True, sync=True, json=True, stdout=out)
    train_seconds = time.monotonic() - started
    train_cpu = cpu_seconds() - cpu_started
    outcome = json.loads(out.getvalue().strip().splitlines()[-1])

    from recognizer import serving

    serving.served_model_reset()
    again = [upload(client, population[i][0], f"item {i} again") for i in held]
    after_held = accuracy(again, [labels[i] for i in held])
    new_version = ModelVersion.objects.get(version=outcome["version"])
    candidate_held = candidate_accuracy(new_version, [population[i] for i in held])
    # Other digits degraded the same way (another seed): large enough for an ECE to mean something.
    more = population_build(x_train, y_train, seed=args.seed + 1000, size=args.more) if args.more else []
    metrics = new_version.metrics or {}
    calibration = {}
    if args.fresh:
        field = post_live_reviews(
            client, staff, x_train, y_train, seed=args.seed + 2000, size=args.fresh, version=new_version
        )
        fitted = field if "t_field" in field else None
        calibration = {
            "fresh_reviews": args.fresh,
            "field_calibration": {k: v for k, v in field.items() if k != "gate"},
            "more_with_field_calibration": served(new_version, more, field=fitted) if more and fitted else None,
            "realworld_dev_one_t": realworld_dev(new_version, field=None),
            "realworld_dev_field_calibration": realworld_dev(new_version, field=fitted) if fitted else None,
        }
    summary = {
        "population": POPULATION,
        "seed": args.seed,
        "reviewed": REVIEWED,
        "reviewed_through": sorted(ways),
        "before_version": before_version.version,
        "before_accuracy_all_600": round(before_all, 4),
        "before_accuracy_120": round(before_held, 4),
        "after_accuracy_120": round(after_held, 4),
        "target_120": round(before_held + (1 - before_held) / 2, 4),
        "after_served_by": again[0].get("model_version"),
        # The new version on the 120 as it would serve them, whether or not the gate activated it.
        "new_version_accuracy_120": round(candidate_held, 4),
        "train_seconds": round(train_seconds, 1),
        # CPU seconds over 2 is about the wall time on 2 idle cores: the machine may be shared.
        "train_cpu_seconds": round(train_cpu, 1),
        "job": outcome,
        "activation_note": new_version.activation_note,
        "temperature": new_version.temperature,
        "field_scores": {k: new_version.field_scores.get(k) for k in ("n", "accuracy", "ece")},
        "field_test_ece_if_calibrated": field_test_chance(new_version),
        "more_before": served(before_version, more) if more else None,
        "more_after": served(new_version, more) if more else None,
        "blend": metrics.get("blend"),
        "post_live": calibration,
        "fit_seconds": metrics.get("fit_seconds"),
        "mnist_accuracy_before": before_version.accuracy,
        "active_field_scores_before": {
            k: ModelVersion.objects.get(pk=before_version.pk).field_scores.get(k) for k in ("n", "accuracy", "ece")
        },
        "load_average": os.getloadavg(),
    }
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
