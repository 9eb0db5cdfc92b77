"""What the web stack costs with no work at all: the ceiling any /api/predict can reach here.

    .venv/bin/python bench/framework_floor.py [--seconds 10] [--workers 4]

Starts gunicorn (the project's gunicorn.conf.py) three times on loopback and drives each
with the same wrk load as predict_load.py (8 connections, a 28x28 PNG as multipart): a bare
WSGI function that reads the body, a Django view behind the project's middleware that reads
request.FILES, and a DRF APIView that reads request.data. Prints requests/s and p50/p99.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APPS = {
    "bare_wsgi": "bench.framework_floor:bare_wsgi",
    "django_view": "bench.framework_floor:django_application",
    "drf_apiview": "bench.framework_floor:django_application",
}


def bare_wsgi(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"bytes": %d}' % len(body)]


def django_application(environ, start_response):
    return _django()(environ, start_response)


_handler = None


def _django():
    """The project's settings and middleware with two no-op routes added (bench.floor_urls)."""
    global _handler
    if _handler is None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application

        settings.ROOT_URLCONF = "bench.floor_urls"
        _handler = get_wsgi_application()
    return _handler


def main() -> None:
    from bench.predict_load import drive_wrk, free_port, multipart
    from tests.images import encode, mnist_sample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    options = parser.parse_args()
    from PIL import Image

    images, _ = mnist_sample()
    bodies = [multipart(encode(Image.fromarray(image))) for image in images]
    env = {**os.environ, "GUNICORN_ACCESS_LOG": "/dev/null", "LOG_LEVEL": "WARNING", "PREDICT_RATE_LIMIT": "off"}
    results = {"machine": f"{os.cpu_count()} cores", "clients": options.clients, "workers": options.workers}
    for name, app in APPS.items():
        port = free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), app, "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", str(options.workers)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        path = {"bare_wsgi": "/", "django_view": "/floor/django", "drf_apiview": "/floor/drf"}[name]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}{path}", data=bodies[0][0], headers={"Content-Type": bodies[0][1]}
                    )
                    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback
                        break
                except OSError:
                    time.sleep(0.5)
            drive_wrk(port, path, bodies, options.clients, 2)  # warm every worker
            results[name] = drive_wrk(port, path, bodies, options.clients, options.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
