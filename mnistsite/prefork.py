"""What a parent process imports before it forks the processes that serve, so that each of
them starts with the code already loaded.

gunicorn's master runs ``web_preload`` (gunicorn.conf.py, ``when_ready``, after ``on_starting``
has set the metrics directory) and every worker it forks, the first ones and each one that
replaces a worker that died or reached max_requests, starts with Django set up, the URLconf
and every view imported, and numpy, scipy, Pillow and LiteRT loaded: a fresh worker only
opens its database connection and loads the model on its first request (tens of
milliseconds instead of seconds). The pages are shared copy-on-write, so a worker's own memory shrinks too.

What never happens in the parent (STYLE.md): loading the model or creating a LiteRT
interpreter (served lazily by recognizer.serving, in each worker), keeping a database
connection (the children would share its socket), starting a thread (a fork copies only the
forking thread). ``web_preload`` ends by closing every database connection Django opened,
and refuses to return if a thread has been started.
"""

import contextlib
import importlib
import logging
import os
import sys
import threading

#: Imported lazily by the first request or the first model load, so loaded here explicitly:
#: the interpreter module (not an interpreter), scipy.spatial (vision.preprocess's convex
#: hull), and what Django imports when it first answers (the SQL compiler, sessions and
#: messages storages).
LAZY_MODULES = (
    "ai_edge_litert.interpreter",
    "scipy.spatial",
    "django.db.models.sql.compiler",
    "django.contrib.sessions.serializers",
    "django.contrib.messages.storage.fallback",
)


class PreforkError(RuntimeError):
    """The parent holds something a forked child must not inherit."""


def web_preload() -> None:
    """Import the WSGI application, its URLconf and the image and model code, in the parent.

    Call after PROMETHEUS_MULTIPROC_DIR is set (mnistsite.metrics_dir): prometheus_client
    picks its value class when it is imported, and it is imported here when the directory
    is set."""
    from django.urls import get_resolver

    from mnistsite import wsgi  # noqa: F401 - django.setup() and the middleware

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf and every view module
    from PIL import Image

    Image.init()  # the format plugins, imported on the first decode otherwise
    for name in LAZY_MODULES:
        importlib.import_module(name)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        importlib.import_module("prometheus_client")
    fork_safety_check()


def fork_safety_check() -> None:
    """Close every database connection this process opened, and refuse a started thread."""
    from django.db import connections

    connections.close_all()
    threads = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
    if threads:
        raise PreforkError(f"threads started before the fork: {', '.join(threads)}")


def worker_exit_now() -> None:
    """End this forked worker now, as a normal exit, without Python's teardown.

    A worker forked from a preloaded parent frees every object one by one when it exits,
    touching pages it shares with the master (0.3-0.7 s measured here), and the master forks
    its replacement only once it has gone. Its database connections are closed and its logs
    and output flushed first; nothing else of a finished worker needs its teardown (its
    metrics live in memory-mapped files, its broker messages were sent before it answered)."""
    if "django.db" in sys.modules:
        from django.db import connections

        with contextlib.suppress(Exception):  # exiting anyway: a broken connection is no reason to stay
            connections.close_all()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)
