"""What the metrics add to one /api/predict request, measured directly: CPU time, in-process.

    .venv/bin/python bench/metrics_overhead.py [--requests 20000]

The end-to-end comparison (bench/predict_load.py --metrics both) is the honest one but, on a
busy machine, its noise between rounds is larger than the effect. This runs exactly what
the metrics add to a prediction request, in prometheus-client's multiprocess mode as under
gunicorn: the metrics middleware around a view that does nothing (minus that view called
bare), plus the prediction's counter and two histograms; and, once per scrape rather than
per request, building /metrics from the files of four workers. CPU time (process_time) per
call, median of five runs.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mnistsite-bench-metrics-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench' / 'metrics-overhead.sqlite3'}")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # never asked: no queue depths read

import django  # noqa: E402

django.setup()

from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.urls import resolve  # noqa: E402

from mnistsite import metrics  # noqa: E402


def cpu_per_call(function, count: int) -> float:
    """Median over five runs of the CPU seconds per call."""
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(count):
            function()
        runs.append((time.process_time() - started) / count)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    options = parser.parse_args()

    request = RequestFactory().post("/api/predict")
    request.resolver_match = resolve("/api/predict")
    response = HttpResponse()

    def view(_request):
        return response

    middleware = metrics.MetricsMiddleware(view)

    def record():
        metrics.prediction_record(
            source="api", model_version="v1", digit=7, reason=None, preprocess_ms=1.2, inference_ms=0.4
        )

    middleware(request)  # the label children and their files exist before timing, as in a warm worker
    record()
    bare = cpu_per_call(lambda: view(request), options.requests)
    wrapped = cpu_per_call(lambda: middleware(request), options.requests)
    prediction = cpu_per_call(record, options.requests)
    per_request_us = (wrapped - bare + prediction) * 1e6

    # A scrape reads every worker's files: copy this process's as if four workers wrote them.
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    for path in list(directory.glob("*.db")):
        for fake_pid in (101, 102, 103):
            stem = path.stem.rsplit("_", 1)[0]
            (directory / f"{stem}_{fake_pid}.db").write_bytes(path.read_bytes())
    scrape_ms = cpu_per_call(lambda: metrics.metrics_text(state=False), 20) * 1000

    results = {
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        "requests_timed": options.requests,
        "middleware_us": round((wrapped - bare) * 1e6, 2),
        "prediction_record_us": round(prediction * 1e6, 2),
        "per_predict_request_us": round(per_request_us, 2),
        "scrape_of_four_workers_ms": round(scrape_ms, 2),
    }
    print(json.dumps(results, indent=2))
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
