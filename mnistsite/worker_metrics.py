"""A Celery worker's metrics endpoint, as a small process of its own.

    python -m mnistsite.worker_metrics PORT PARENT_PID

Started by the worker's main process when it is ready (mnistsite.celery, with
CELERY_METRICS_PORT), it serves mnistsite.metrics.worker_metrics_app on PORT: the values
that the worker's pool processes wrote to PROMETHEUS_MULTIPROC_DIR, added up, behind the
same token or allowlist as the web's /metrics. A process, not a thread of the worker:
billiard's pool, shutting down with an HTTP server thread beside it, could wait for ever on
a queue lock that a killed pool process held. It ends with its worker: stopped by the
worker's shutdown, or on its own once its parent is gone.
"""

import os
import sys
import time


def main() -> None:
    port, parent = int(sys.argv[1]), int(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")
    from mnistsite.metrics import worker_metrics_serve

    worker_metrics_serve(port=port)
    while os.getppid() == parent:
        time.sleep(1.0)


if __name__ == "__main__":
    main()
