"""Where a process family keeps its Prometheus values: prometheus-client's multiprocess mode.

gunicorn's workers and a Celery worker's pool processes each count in their own process;
prometheus-client's multiprocess mode has every process write its values to files in one
directory (PROMETHEUS_MULTIPROC_DIR), and the process that answers a scrape adds them up.
The directory must be chosen before prometheus_client is first imported (it picks its
value class on import), so this module imports it only inside functions, and must start
empty (files of an earlier run would be counted again). Used by gunicorn.conf.py (the
master, before it forks) and mnistsite.celery (the worker's main process, before its
pool forks). Kept free of Django.
"""

import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_created: list[Path] = []


def metrics_enabled(environ=os.environ) -> bool:
    """METRICS_ENABLED (default true), read as django-environ reads a bool."""
    return environ.get("METRICS_ENABLED", "true").strip().lower() not in ("false", "0", "no", "off", "")


def multiprocess_dir_prepare(*, prefix: str, use_environment: bool = True) -> Path:
    """Set PROMETHEUS_MULTIPROC_DIR for this process and its children, and empty it.

    With `use_environment` and the variable already set (by the operator), that directory
    is used and its value files (*.db) are deleted; otherwise a fresh directory is made,
    on /dev/shm when there is one (the values are memory-mapped files), and removed by
    multiprocess_dir_remove at the end."""
    configured = os.environ.get(ENV) if use_environment else None
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        shm = "/dev/shm"  # noqa: S108 - mkdtemp makes a private (0700) directory under it
        base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
        directory = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        _created.append(directory)
    os.environ[ENV] = str(directory)
    return directory


def multiprocess_dir_remove() -> None:
    """Remove the directories this process made (not one the operator named)."""
    while _created:
        shutil.rmtree(_created.pop(), ignore_errors=True)


def process_dead(pid: int) -> None:
    """A worker process ended: its live gauges stop counting (counters and histograms stay)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
