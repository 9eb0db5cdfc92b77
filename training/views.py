"""The models page: versions, reports, the model comparison, EDA plots, training progress.

Thin: reads rows and lists report files; activation calls training.services. Report images
are served only by whitelisted PNG names from a known folder, never by a client's path.
"""

import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from training.models import ModelComparison, ModelVersion, TrainingJob
from training.selectors import (
    eda_report_names,
    eda_report_open,
    model_comparison_report_names,
    model_comparison_report_open,
    model_version_report_names,
    model_version_report_open,
)
from training.services import model_version_activate

# The report images a training run writes next to its model (training.train).
VERSION_REPORTS = {
    "training_curves.png": "Training curves",
    "confusion_matrix.png": "Confusion matrix (test set)",
    "misclassified.png": "Misclassified test images",
}
PNG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.png$")
ACTIVE_JOB_STATUSES = [TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING]


def png_names(names: list[str]) -> list[str]:
    """The PNG files among `names` whose names are safe to put in a URL."""
    return [name for name in names if PNG_NAME.match(name)]


def plot_title(name: str) -> str:
    """ "accuracy_by_model.png" -> "Accuracy by model"."""
    return name.removesuffix(".png").replace("_", " ").replace("-", " ").capitalize()


def png_handle_response(handle) -> FileResponse:
    response = FileResponse(handle, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=300"
    return response


def percent(value) -> str:
    """0.9912 -> "99.12%"; anything not a number as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–" if value is None else str(value)
    return f"{100.0 * value:.2f}%"


def number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–" if value is None else str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"


COMPARISON_COLUMNS = {
    "name": "Model",
    "family": "Family",
    "accuracy": "Test accuracy",
    "params": "Parameters",
    "params_kind": "Parameters are",
    "train_time_s": "Training time (s)",
    "inference_ms_per_image": "Inference (ms/image, batched)",
    "inference_ms_single": "Inference (ms, one image)",
    "train_size": "Training images",
    "test_size": "Test images",
    "hyperparameters": "Hyperparameters",
    "note": "Note",
}
COMPARISON_HIDDEN = {"complexity", "inference_batch_size"}


def comparison_table(results) -> dict:
    """Headers and display cells for the comparison results: known columns first, then any others."""
    rows = [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
    keys = [k for k in COMPARISON_COLUMNS if any(k in r for r in rows)]
    keys += sorted({k for r in rows for k in r} - set(keys) - COMPARISON_HIDDEN)
    best = max((r["accuracy"] for r in rows if isinstance(r.get("accuracy"), int | float)), default=None)
    table_rows = []
    for row in rows:
        cells = []
        for key in keys:
            value = row.get(key)
            if key == "accuracy" or key.endswith("_accuracy"):
                text = percent(value)
            elif isinstance(value, dict):
                text = ", ".join(f"{k}={v}" for k, v in value.items())
            else:
                text = number(value)
            cells.append({"text": text, "numeric": is_number(value), "key": key})
        table_rows.append({"cells": cells, "best": best is not None and row.get("accuracy") == best})
    headers = [{"text": COMPARISON_COLUMNS.get(k, k.replace("_", " ")), "key": k} for k in keys]
    return {"headers": headers, "rows": table_rows, "keys": keys}


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def per_class_rows(metrics: dict) -> list[dict]:
    """Precision and recall per digit, as training.evaluate writes them:
    {"precision": {"0": p, ...}, "recall": {"0": r, ...}}."""
    precision, recall = metrics.get("precision"), metrics.get("recall")
    if not isinstance(precision, dict) or not isinstance(recall, dict):
        return []
    digits = sorted({k for k in [*precision, *recall] if str(k).isdigit()}, key=int)
    return [{"digit": int(d), "precision": percent(precision.get(d)), "recall": percent(recall.get(d))} for d in digits]


OTHER_METRIC_SKIP = {"precision", "recall", "confusion_matrix", "history"}
SVG_SIDE = 120  # the reliability diagram's plot square, in SVG units


def calibration_view(metrics: dict) -> dict | None:
    """Temperature, ECE before/after and the reliability diagram (bars: accuracy per bin of
    calibrated confidence; the diagonal is perfect calibration), from metrics.json's "calibration"."""
    report = metrics.get("calibration")
    if not isinstance(report, dict) or "temperature" not in report:
        return None
    bins = [b for b in report.get("reliability") or [] if isinstance(b, dict)]
    width = SVG_SIDE / max(1, len(bins))
    bars = []
    for i, b in enumerate(bins):
        if not b.get("count"):
            continue
        height = SVG_SIDE * float(b["accuracy"])
        bars.append(
            {
                "x": round(i * width, 2),
                "y": round(SVG_SIDE - height, 2),
                "width": round(width - 1, 2),
                "height": round(height, 2),
                "title": f"{b['low']:.2f}-{b['high']:.2f}: {b['count']} images, confidence "
                f"{b['confidence']:.3f}, right {b['accuracy']:.3f}",
            }
        )
    return {
        "temperature": f"{report['temperature']:.3f}",
        "ece_before": number(report.get("ece_before")),
        "ece": number(report.get("ece")),
        "images": number(report.get("images")),
        "fit_set": report.get("fit_set", ""),
        "bins": [b for b in bins if b.get("count")],
        "bars": bars,
        "side": SVG_SIDE,
    }


def field_view(scores: dict) -> dict | None:
    """The version's field-test scores for display (None when never scored)."""
    if not isinstance(scores, dict) or "n" not in scores:
        return None
    by_source = scores.get("by_source") if isinstance(scores.get("by_source"), dict) else {}
    chance = scores.get("ece_chance") if isinstance(scores.get("ece_chance"), dict) else None
    return {
        "n": scores["n"],
        "accuracy": percent(scores.get("accuracy")),
        "digit_accuracy": percent(scores.get("digit_accuracy")),
        "digits": scores.get("digits"),
        "false_rejections": scores.get("false_rejections"),
        "not_a_digit": scores.get("not_a_digit"),
        "not_a_digit_recall": percent(scores.get("not_a_digit_recall")),
        "ece": number(scores.get("ece")),
        "ece_chance": {key: number(value) for key, value in chance.items()} if chance else None,
        "computed": (scores.get("computed") or "")[:16].replace("T", " "),
        "sources": [
            {
                "name": name,
                "n": row.get("n"),
                "accuracy": percent(row.get("accuracy")),
                "digit_accuracy": percent(row.get("digit_accuracy")),
                "false_rejections": row.get("false_rejections"),
                "not_a_digit_recall": percent(row.get("not_a_digit_recall")),
            }
            for name, row in sorted(by_source.items())
        ],
    }


def field_calibration_view(field: dict) -> dict | None:
    """The version's field calibration for display: the field T with its fit size, or why
    there is none yet (None when never refitted)."""
    if not isinstance(field, dict) or "key" not in field:
        return None
    fitted = "t_field" in field and "gate" in field
    return {
        "fitted": fitted,
        "t_field": f"{field['t_field']:.3f}" if fitted else None,
        "t_general": f"{field['t_general']:.3f}" if fitted else None,
        "fit_size": field.get("fit_size"),
        "fresh": field.get("fresh"),
        "trained_on": field.get("trained_on"),
        "ece_before": number(field.get("ece_before")),
        "ece": number(field.get("ece")),
        "score_field": number(field.get("score_field")),
        "score_general": number(field.get("score_general")),
        "reason": field.get("reason", ""),
        "computed": (field.get("computed") or "")[:16].replace("T", " "),
    }


def version_view(version: ModelVersion) -> dict:
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    present = set(model_version_report_names(version=version))
    reports = [
        {"name": name, "title": title, "url": reverse("model-version-report", args=[version.pk, name])}
        for name, title in VERSION_REPORTS.items()
        if name in present
    ]
    others = {
        key: value
        for key, value in metrics.items()
        if key not in OTHER_METRIC_SKIP and not isinstance(value, dict | list) and len(str(value)) < 200
    }
    seconds = metrics.get("fit_seconds")
    return {
        "obj": version,
        "accuracy": percent(version.accuracy),
        "params": number(metrics.get("param_count")),
        "train_seconds": f"{seconds:,.0f} s" if seconds is not None else "–",
        "hyperparameters": metrics.get("params") if isinstance(metrics.get("params"), dict) else {},
        "per_class": per_class_rows(metrics),
        "reports": reports,
        "metrics": {key: number(value) for key, value in sorted(others.items())},
        "calibration": calibration_view(metrics),
        "field": field_view(version.field_scores),
        "field_calibration": field_calibration_view(version.field_calibration),
    }


def job_payload(job: TrainingJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "preset": job.preset,
        "phase": job.phase,
        "phase_label": job.get_phase_display() if job.phase else "",
        "step": job.step,
        "steps": job.steps,
        "eta_seconds": job.eta_seconds,
        "progress_text": job.progress_summary,
        "fraction_done": job.fraction_done,
        "epoch": job.epoch,
        "epochs": job.epochs,
        "accuracy": job.accuracy,
        "val_accuracy": job.val_accuracy,
        "loss": job.loss,
        "created": job.created.isoformat() if job.created else None,
        "started": job.started.isoformat() if job.started else None,
        "finished": job.finished.isoformat() if job.finished else None,
    }


@require_GET
def models_page(request):
    versions = list(ModelVersion.objects.select_related("training_job"))
    active = next((v for v in versions if v.is_active), None)
    comparison = ModelComparison.objects.first()
    comparison_plots = []
    if comparison is not None:
        comparison_plots = [
            {
                "name": name,
                "title": plot_title(name),
                "url": reverse("model-comparison-report", args=[comparison.pk, name]),
            }
            for name in png_names(model_comparison_report_names(comparison=comparison))
        ]
    eda_plots = [
        {"name": name, "title": plot_title(name), "url": reverse("eda-plot", args=[name])}
        for name in png_names(eda_report_names())
    ]
    jobs = list(TrainingJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).order_by("created"))
    recent_jobs = list(TrainingJob.objects.exclude(status__in=ACTIVE_JOB_STATUSES)[:5]) if request.user.is_staff else []
    context = {
        "active": version_view(active) if active else None,
        "versions": [version_view(v) for v in versions],
        "comparison": comparison,
        "comparison_table": comparison_table(comparison.results) if comparison else None,
        "comparison_plots": comparison_plots,
        "eda_plots": eda_plots,
        "jobs": jobs,
        "recent_jobs": recent_jobs,
    }
    return render(request, "training/models.html", context)


@require_GET
def training_jobs_progress(request):
    """Queued and running jobs, for the progress poll of the models page. Public: no logs or errors."""
    jobs = TrainingJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).order_by("created")
    active = ModelVersion.objects.filter(is_active=True).values_list("version", flat=True).first()
    return JsonResponse({"jobs": [job_payload(job) for job in jobs], "active_version": active})


@require_POST
def model_version_activate_view(request, pk: int):
    if not (request.user.is_authenticated and request.user.is_staff):
        raise PermissionDenied("only staff may activate a model version")
    version = get_object_or_404(ModelVersion, pk=pk)
    model_version_activate(version=version, force=True)
    messages.success(request, f"Model version {version.version} is now active; new predictions use it.")
    return redirect("models")


@require_GET
def model_version_report(request, pk: int, name: str):
    version = get_object_or_404(ModelVersion, pk=pk)
    if name not in VERSION_REPORTS:
        raise Http404("no such report image")
    handle = model_version_report_open(version=version, name=name)
    if handle is None:
        raise Http404("no such report image")
    return png_handle_response(handle)


@require_GET
def model_comparison_report(request, pk: int, name: str):
    comparison = get_object_or_404(ModelComparison, pk=pk)
    if not PNG_NAME.match(name) or name not in model_comparison_report_names(comparison=comparison):
        raise Http404("no such report image")
    handle = model_comparison_report_open(comparison=comparison, name=name)
    if handle is None:
        raise Http404("no such report image")
    return png_handle_response(handle)


@require_GET
def eda_plot(request, name: str):
    if not PNG_NAME.match(name) or name not in eda_report_names():
        raise Http404("no such report image")
    handle = eda_report_open(name=name)
    if handle is None:
        raise Http404("no such report image")
    return png_handle_response(handle)
