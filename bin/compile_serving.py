"""Write bytecode (.pyc) for the modules that serving imports, and for no others.

pip compiles every module it installs: 92 MB of the serving lock's 506 MB, most of it for
modules that the web and the batch worker never import (most of scipy, numpy's tests and
f2py, SQLAlchemy's dialects, pip itself). The web image and `make check-serving` install
with `pip install --no-compile` into a venv without pip, then run this with that venv's
Python, in the checkout, under settings that import (no database or broker is touched):

    VENV/bin/python bin/compile_serving.py [--list]

It imports what the processes of the web image import: gunicorn's master preload
(mnistsite.prefork.web_preload: Django, the URLconf, numpy, scipy, Pillow, LiteRT's module),
every module of the project, gunicorn's sync worker, a Celery worker with its prefork pool,
both brokers' transports (Redis, the embedded one on SQLAlchemy), both databases' backends,
the management commands the containers run (migrate, collectstatic) and the S3 storage with
a boto3 client; then it compiles each module it loaded from the venv or the checkout. A module
imported only later, on a path left out here, is compiled in memory when it is imported, as
it would be with no bytecode at all: slower to import, never wrong. Prints one JSON line.
"""

import argparse
import importlib
import importlib.util
import json
import os
import pkgutil
import py_compile
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")

PACKAGES = ("mnistsite", "recognizer", "training", "vision")
# What the processes import besides the application: gunicorn's master and sync worker,
# `celery worker` (its command line, consumer, events, prefork pool and both transports),
# prometheus_client, both database backends and the cache table, the commands the
# containers run at start (migrate makes the cache table), the S3 storage. Checked against
# what the processes really import (README, Packaging): a module missing here costs only
# an in-memory compile when it is first imported.
PROCESS_MODULES = (
    "gunicorn.app.wsgiapp",
    "gunicorn.arbiter",
    "gunicorn.workers.sync",
    "gunicorn.glogging",
    "celery.bin.celery",
    "celery.apps.worker",
    "celery.worker.worker",
    "celery.worker.components",
    "celery.worker.consumer",
    "celery.worker.strategy",
    "celery.concurrency.prefork",
    "celery.app.control",
    "celery.backends.redis",
    "celery.backends.database",
    "celery.app.amqp",
    "celery.app.events",
    "celery.app.log",
    "celery.app.routes",
    "celery.events.dispatcher",
    "celery.events.receiver",
    "celery.worker.autoscale",
    "celery.worker.consumer.delayed_delivery",
    "celery.__main__",
    "billiard.popen_fork",
    "billiard.synchronize",
    "billiard.sharedctypes",
    "kombu.mixins",
    "kombu.transport.redis",
    "kombu.transport.sqlalchemy",
    "kombu.transport.sqlalchemy.models",
    "sqlalchemy.dialects.mysql",  # loaded by kombu's tables (mysql_engine=)
    "prometheus_client",
    "prometheus_client.multiprocess",
    "gunicorn.ctl.server",
    "django.core.cache.backends.db",
    "django.views.csrf",
    "whitenoise.storage",
    "django.db.backends.postgresql.base",
    "django.db.backends.sqlite3.base",
    "django.core.management.commands.migrate",
    "django.core.management.commands.createcachetable",
    "django.core.management.commands.makemigrations",
    "django.contrib.staticfiles.management.commands.collectstatic",
    "storages.backends.s3",
)


def serving_import() -> None:
    """Import what the web and the batch worker import (see the module's docstring)."""
    from mnistsite.prefork import web_preload

    web_preload()
    for package in PACKAGES:
        for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            importlib.import_module(module.name)
    for name in PROCESS_MODULES:
        importlib.import_module(name)
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader
    from django.template import engines

    MigrationLoader(None)  # every app's migrations, as migrate reads them (no connection)
    engines.all()  # every template tag library, as the first page renders them
    for app in apps.get_app_configs():
        if importlib.util.find_spec(f"{app.name}.management") is not None:
            importlib.import_module(f"{app.name}.management")  # as manage.py's command lookup does
    import boto3

    # botocore imports a client's modules when the client is made (no request is sent).
    boto3.session.Session().client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")


def compile_loaded(roots: list[Path]) -> list[Path]:
    """Write the .pyc of every loaded module whose source lies under one of `roots`."""
    written = []
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue
        path = Path(source).resolve()
        if not any(path.is_relative_to(root) for root in roots):
            continue
        py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True)
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the compiled modules' paths too")
    options = parser.parse_args()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    serving_import()
    written = compile_loaded([site, *(ROOT / package for package in PACKAGES)])
    venv = [path for path in written if path.is_relative_to(site)]
    summary = {
        "site_packages": str(site),
        "compiled_installed": len(venv),
        "compiled_project": len(written) - len(venv),
    }
    if options.list:
        summary["paths"] = sorted(str(path) for path in written)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
