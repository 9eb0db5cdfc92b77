"""Prometheus metrics: every metric of the site, the small calls that record them, and /metrics.

Services call one function each (``prediction_record``, ``batch_chunk_record``...); the
web's middleware times each request by its resolved view name, never its raw path. Labels
stay bounded: view names, HTTP methods and status codes, digits, a handful of rejection
reason categories, sources and model versions.

Processes: gunicorn's workers and a Celery worker's pool processes count in
prometheus-client's multiprocess mode (mnistsite.metrics_dir); the web answers /metrics
for its workers, and each Celery worker with CELERY_METRICS_PORT serves its own on that
port (``worker_metrics_serve``). What lives in the database or the broker (queue depths,
training jobs' state and progress) is read when Prometheus scrapes the web, by
``StateCollector``: a broker or database that does not answer leaves its samples out and
sets ``mnistsite_celery_broker_up`` / ``mnistsite_state_up`` to 0, never fails the scrape.

METRICS_ENABLED=false turns it all off (no middleware, no /metrics, every call here a no-op).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import sqlite3
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable
from contextlib import closing
from functools import cache, lru_cache
from urllib.parse import quote

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse

from mnistsite.metrics_dir import ENV as MULTIPROC_ENV
from mnistsite.runtime import EMBEDDED_SCHEME, is_embedded

logger = logging.getLogger(__name__)

#: The classic text format, which every Prometheus reads (our names need none of 1.0.0's UTF-8).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# One image takes about a millisecond; a batch chunk of 500 a second or so.
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 2 * 3600, 4 * 3600)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class SiteMetrics:
    """Every metric of the site. Made on first use, never on import: prometheus_client picks
    its value class (one process, or multiprocess files) when it is imported, and a Celery
    worker imports this module before it sets PROMETHEUS_MULTIPROC_DIR (mnistsite.celery)."""

    def __init__(self):
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "mnistsite_http_requests",
            "HTTP requests answered, by view, method and status.",
            ["view", "method", "status"],
        )
        self.request_seconds = Histogram(
            "mnistsite_http_request_duration_seconds",
            "Time from the request reaching Django to its answer, by view.",
            ["view", "method"],
            buckets=REQUEST_BUCKETS,
        )
        self.predictions = Counter(
            "mnistsite_predictions",
            "Predictions stored: outcome (a digit, rejected, error: no image), reason category, source, model version.",
            ["outcome", "reason", "source", "model_version"],
        )
        self.preprocess_seconds = Histogram(
            "mnistsite_preprocess_seconds",
            "Decoding and preprocessing: one image for path=request, a whole chunk for path=batch.",
            ["path"],
            buckets=STAGE_BUCKETS,
        )
        self.inference_seconds = Histogram(
            "mnistsite_inference_seconds",
            "One LiteRT call: one image for path=request, a whole chunk for path=batch.",
            ["path"],
            buckets=STAGE_BUCKETS,
        )
        self.batch_items = Counter("mnistsite_batch_items_processed", "Batch items written (failed ones included).")
        self.batch_items_failed = Counter(
            "mnistsite_batch_items_failed", "Batch items that could not be read as images."
        )
        self.batch_chunk_seconds = Histogram(
            "mnistsite_batch_chunk_duration_seconds", "Time to run one chunk, read to commit.", buckets=STAGE_BUCKETS
        )
        self.batch_jobs = Counter("mnistsite_batch_jobs_finished", "Batch jobs that ended, by status.", ["status"])
        self.batch_job_seconds = Histogram(
            "mnistsite_batch_job_duration_seconds", "Working time of a batch job that succeeded.", buckets=JOB_BUCKETS
        )
        self.batch_images_per_second = Gauge(
            "mnistsite_batch_last_job_images_per_second",
            "Images per second of the last batch job that succeeded.",
            multiprocess_mode="mostrecent",
        )
        self.training_jobs = Counter(
            "mnistsite_training_jobs_finished", "Training jobs that ended, by status.", ["status"]
        )
        self.training_job_seconds = Histogram(
            "mnistsite_training_job_duration_seconds",
            "Run time of a training job, by status.",
            ["status"],
            buckets=JOB_BUCKETS,
        )
        self.tasks = Counter(
            "mnistsite_celery_tasks", "Celery tasks run by this worker, by task and state.", ["task", "state"]
        )
        self.task_seconds = Histogram(
            "mnistsite_celery_task_duration_seconds",
            "Run time of Celery tasks, by task.",
            ["task"],
            buckets=STAGE_BUCKETS,
        )


@cache
def site_metrics() -> SiteMetrics:
    return SiteMetrics()


#: Rejection reasons are sentences (one names a count); a metric label gets their category.
REASON_CATEGORIES = (
    ("no ink found", "no_ink"),
    ("several digits", "several_digits"),
    ("not a digit", "not_a_digit"),
    ("not sure", "not_sure"),
)


def enabled() -> bool:
    return settings.METRICS_ENABLED


def reason_category(reason: str | None) -> str:
    if not reason:
        return "none"
    for prefix, category in REASON_CATEGORIES:
        if reason.startswith(prefix):
            return category
    return "other"


def _outcome(*, digit: int | str | None, error: str = "") -> str:
    if error:
        return "error"
    return "rejected" if digit is None else str(digit)


# --------------------------------------------------------------------------
# What the services call
# --------------------------------------------------------------------------


def _unresolved_view(request: HttpRequest) -> str:
    return "metrics" if request.path_info == METRICS_PATH else "unresolved"


def request_observe(*, request: HttpRequest, status: int, seconds: float) -> None:
    m = site_metrics()
    match = getattr(request, "resolver_match", None)
    view = match.view_name if match is not None else _unresolved_view(request)
    method = request.method if request.method in METHODS else "other"
    m.requests.labels(view, method, str(status)).inc()
    m.request_seconds.labels(view, method).observe(seconds)


def prediction_record(
    *,
    source: str,
    model_version: str,
    digit: int | str | None,
    reason: str | None,
    preprocess_ms: float,
    inference_ms: float,
) -> None:
    """One prediction made for a request (the API, the pages); digit "number" for a number read."""
    if not enabled():
        return
    m = site_metrics()
    m.predictions.labels(_outcome(digit=digit), reason_category(reason), source, model_version).inc()
    m.preprocess_seconds.labels("request").observe(preprocess_ms / 1000.0)
    if inference_ms:
        m.inference_seconds.labels("request").observe(inference_ms / 1000.0)


def batch_stages_observe(*, preprocess_seconds: float, inference_seconds: float) -> None:
    """A chunk's preprocessing and its one model call (recorded each time they run)."""
    if not enabled():
        return
    m = site_metrics()
    m.preprocess_seconds.labels("batch").observe(preprocess_seconds)
    m.inference_seconds.labels("batch").observe(inference_seconds)


def _row_answer(row: dict) -> int | str | None:
    """A row's digit, or "number" for a number read (rows of a batch job in number mode)."""
    if row.get("kind") == "number":
        return None if row.get("rejected") else "number"
    return row.get("prediction")


def batch_chunk_record(*, rows: Iterable[dict], model_version: str, seconds: float) -> None:
    """A chunk's rows, once committed (the chunk's Prediction rows as dicts, mnistsite.bulk)."""
    if not enabled():
        return
    m = site_metrics()
    tally = Tally(
        (_outcome(digit=_row_answer(row), error=row.get("error", "")), reason_category(row.get("reason")))
        for row in rows
    )
    failed = 0
    for (outcome, reason), count in tally.items():
        m.predictions.labels(outcome, reason, "batch", model_version).inc(count)
        failed += count if outcome == "error" else 0
    m.batch_items.inc(sum(tally.values()))
    m.batch_items_failed.inc(failed)
    m.batch_chunk_seconds.observe(seconds)


def batch_job_record(*, status: str, working_seconds: float | None = None, images_per_second: float | None = None):
    """A batch job ended (succeeded with its working time and speed, or failed)."""
    if not enabled():
        return
    m = site_metrics()
    m.batch_jobs.labels(status).inc()
    if working_seconds is not None:
        m.batch_job_seconds.observe(working_seconds)
    if images_per_second is not None:
        m.batch_images_per_second.set(images_per_second)


def training_job_record(*, status: str, seconds: float | None) -> None:
    if not enabled():
        return
    m = site_metrics()
    m.training_jobs.labels(status).inc()
    if seconds is not None:
        m.training_job_seconds.labels(status).observe(seconds)


def task_record(*, task: str, state: str, seconds: float | None) -> None:
    """A Celery task ended in this worker (mnistsite.celery's signal handlers)."""
    if not enabled():
        return
    m = site_metrics()
    m.tasks.labels(task, state).inc()
    if seconds is not None:
        m.task_seconds.labels(task).observe(seconds)


# --------------------------------------------------------------------------
# Read when scraped: queue depths and training jobs
# --------------------------------------------------------------------------

BROKER_TIMEOUT = 0.5  # seconds; a scrape waits at most this long for the broker
REDIS_PRIORITY_SEP, REDIS_PRIORITY_STEPS = "\x06\x16", (3, 6, 9)  # kombu's Redis keys for priorities


def celery_queues() -> list[str]:
    routed = {route.get("queue") for route in settings.CELERY_TASK_ROUTES.values()}
    return sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *filter(None, routed)})


def queue_lengths(*, broker_url: str, queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (not those a worker holds): LLEN on Redis, a COUNT on the
    embedded broker's SQLite file (read-only). Raises on a broker that does not answer."""
    if broker_url.startswith(("redis://", "rediss://")):
        import redis

        # A connection per scrape (one every 15 s or so), closed at once: nothing lingers between scrapes.
        client = redis.Redis.from_url(broker_url, socket_timeout=BROKER_TIMEOUT, socket_connect_timeout=BROKER_TIMEOUT)
        try:
            pipe = client.pipeline(transaction=False)
            for queue in queues:
                pipe.llen(queue)
                for step in REDIS_PRIORITY_STEPS:
                    pipe.llen(f"{queue}{REDIS_PRIORITY_SEP}{step}")
            lengths = pipe.execute()
        finally:
            client.close()
        per_queue = 1 + len(REDIS_PRIORITY_STEPS)
        return {queue: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, queue in enumerate(queues)}
    if is_embedded(broker_url):
        path = broker_url.removeprefix(EMBEDDED_SCHEME + "/")
        counts = dict.fromkeys(queues, 0)
        if not os.path.exists(path):
            return counts
        with closing(sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=BROKER_TIMEOUT)) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"kombu_queue", "kombu_message"} <= tables:  # nothing was ever sent
                return counts
            rows = db.execute(
                "SELECT q.name, COUNT(m.id) FROM kombu_queue q JOIN kombu_message m ON m.queue_id = q.id"
                " WHERE m.visible = 1 GROUP BY q.name"
            )
            counts.update({name: n for name, n in rows if name in counts})
        return counts
    raise ValueError(f"queue depth is not known for this broker: {broker_url.split(':', 1)[0]}")


class StateCollector:
    """Samples read at scrape time, in the process answering /metrics."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        broker_up = GaugeMetricFamily("mnistsite_celery_broker_up", "1 when the broker answered this scrape.")
        depth = GaugeMetricFamily(
            "mnistsite_celery_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        try:
            for queue, length in queue_lengths(broker_url=settings.CELERY_BROKER_URL, queues=celery_queues()).items():
                depth.add_metric([queue], length)
            broker_up.add_metric([], 1)
        except Exception as exc:  # each transport raises its own errors; a scrape never fails for them
            logger.warning("queue depths not read: %s: %s", type(exc).__name__, exc)
            broker_up.add_metric([], 0)
        yield broker_up
        yield depth
        yield from self._training()

    def _training(self):
        from prometheus_client.core import GaugeMetricFamily

        from training.models import TrainingJob

        state_up = GaugeMetricFamily("mnistsite_state_up", "1 when the database answered this scrape.")
        jobs = GaugeMetricFamily("mnistsite_training_jobs", "Training jobs by status.", labels=["status"])
        names = ("epoch", "epochs", "step", "steps", "eta_seconds")
        running = {
            name: GaugeMetricFamily(
                f"mnistsite_training_job_{name}",
                f"A running training job's {name} (step: within its phase).",
                labels=["job"],
            )
            for name in names
        }
        progress = GaugeMetricFamily(
            "mnistsite_training_job_progress_ratio", "A running training job's epochs done / epochs.", labels=["job"]
        )
        phase = GaugeMetricFamily(
            "mnistsite_training_job_phase", "1 for a running job's phase.", labels=["job", "phase"]
        )
        try:
            counts = dict(TrainingJob.objects.values_list("status").annotate(n=Count("pk")).order_by())
            active = list(TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING).values("pk", "phase", *names))
        except Exception as exc:  # the database is away: the scrape still answers
            logger.warning("training jobs not read: %s: %s", type(exc).__name__, exc)
            state_up.add_metric([], 0)
            yield state_up
            return
        state_up.add_metric([], 1)
        for status in TrainingJob.Status.values:
            jobs.add_metric([status], counts.get(status, 0))
        for job in active:
            label = str(job["pk"])
            for name in names:
                if job[name] is not None:
                    running[name].add_metric([label], job[name])
            progress.add_metric([label], job["epoch"] / job["epochs"] if job["epochs"] else 0.0)
            phase.add_metric([label, job["phase"] or "starting"], 1)
        yield state_up
        yield jobs
        yield progress
        yield phase
        yield from running.values()


# --------------------------------------------------------------------------
# Exposition and access
# --------------------------------------------------------------------------


class _Scrape:
    """This process family's metrics (all of gunicorn's workers in multiprocess mode) and,
    when asked, the state read now."""

    def __init__(self, *, state: bool):
        self.state = state

    def collect(self):
        from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

        site_metrics()  # registered before the first scrape, so that every family shows
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        if self.state:
            yield from StateCollector().collect()


def metrics_text(*, state: bool = True) -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(_Scrape(state=state))


def metrics_access(*, authorization: str, client_ip: str | None) -> tuple[int, str]:
    """(200, "") when the caller may read the metrics, else (401 or 403, why).

    Allowed: the bearer token METRICS_TOKEN, or a client address in METRICS_ALLOWED_IPS
    (addresses or networks). With neither configured, development answers loopback clients
    and production nobody."""
    token, allowed = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
    scheme, _, presented = authorization.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return 200, ""
    address = _address(client_ip)
    if allowed and address is not None and any(address in network for network in _networks(tuple(allowed))):
        return 200, ""
    if not token and not allowed:
        if not settings.PRODUCTION and address is not None and address.is_loopback:
            return 200, ""
        where = "in production" if settings.PRODUCTION else "beyond this machine (development)"
        return 403, f"metrics are closed {where}: set METRICS_TOKEN or METRICS_ALLOWED_IPS to open them"
    if token:
        return 401, "metrics need the bearer token (Authorization: Bearer <METRICS_TOKEN>)"
    return 403, "metrics are not open to this address"


def _address(text: str | None):
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]):
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in allowed if entry.strip()]


def _plain(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the Prometheus text format (the plain-text 401/403 Prometheus shows as is)."""
    from mnistsite.client_identity import client_ip

    status, why = metrics_access(authorization=request.headers.get("Authorization", ""), client_ip=client_ip(request))
    if status != 200:
        return _plain(status, why)
    if request.method not in ("GET", "HEAD"):
        response = _plain(405, "metrics are read with GET")
        response["Allow"] = "GET, HEAD"
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)


METRICS_PATH = "/metrics"


class MetricsMiddleware:
    """Counts and times every request by its resolved view, and answers /metrics itself (settings
    adds it, second, when metrics are on).

    /metrics is answered here, ahead of the middleware that follows: a scrape comes from
    inside the deployment (Prometheus asks each web container by its address, over plain
    HTTP), so the host name check and the HTTPS redirect do not apply to it; the token or
    the allowlist guard it instead."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        answer = metrics_view if request.path_info == METRICS_PATH else self.get_response
        response = answer(request)
        request_observe(request=request, status=response.status_code, seconds=time.perf_counter() - started)
        return response


# --------------------------------------------------------------------------
# A Celery worker's own endpoint
# --------------------------------------------------------------------------


def worker_metrics_app(environ, start_response):
    """WSGI: this worker's metrics (its pool processes added up), behind the same access rule."""
    status, why = metrics_access(
        authorization=environ.get("HTTP_AUTHORIZATION", ""), client_ip=environ.get("REMOTE_ADDR")
    )
    if status != 200:
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="metrics"'))
        start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", headers)
        return [why.encode() + b"\n"]
    body = metrics_text(state=False)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
    return [body]


def worker_metrics_serve(*, port: int, host: str = "0.0.0.0") -> threading.Thread:  # noqa: S104 - a container's port
    """Serve worker_metrics_app on `port` from a daemon thread (of mnistsite.worker_metrics)."""
    from wsgiref.simple_server import make_server

    from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

    server = make_server(host, port, worker_metrics_app, ThreadingWSGIServer, handler_class=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.start()
    logger.info("worker metrics on http://%s:%s/metrics", host, port)
    return thread
