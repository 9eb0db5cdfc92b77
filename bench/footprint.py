"""Footprint of an install: size on disk, web worker memory and start-up, batch worker memory.

    .venv/bin/python bench/footprint.py --build [--venv old=/work/venvs/old]
        [--predictions 10000] [--images 10000] [--env MALLOC_ARENA_MAX=2] [--json out.json]
    .venv/bin/python bench/footprint.py --venv NAME=PATH [--venv NAME=PATH...] [--skip-web]

--build measures the serving lock installed both ways (bin/build-serving-venv, built under
var/venvs/ when the lock or the build scripts change): `image`, as the web image and
`make check-serving` install it (no pip, bytecode only for the modules serving imports), and
`pip-default` (pip and setuptools kept, every module compiled). --venv adds any other venv.
For each, on SQLite and the embedded broker in a temporary folder (loopback only):
- installed size (the whole venv), its compiled bytecode and its five largest packages;
- what each import costs in a fresh process (RSS after numpy, Pillow, scipy, LiteRT, Django
  set up, the WSGI application, the model loaded);
- gunicorn from that venv with one worker (the repository's gunicorn.conf.py, whose master
  imports the application before forking: mnistsite.prefork): seconds from launch to the
  first answered prediction; the worker's RSS (and USS, its own pages) after a warm-up and
  after N predictions; then the worker is killed and the seconds from the kill to the first
  prediction the fresh worker answers; then a second gunicorn with --max-requests: seconds
  from the answer that ends a worker to the next answer (a fresh worker's first), three
  times; the same start-up figures with GUNICORN_PRELOAD=false (each worker imports
  everything itself, as before);
- a Celery worker from that venv (`-Q default`, one pool process) after a job of M images (a
  zip of 28x28 PNGs): RSS of its main process and of its pool process.
The servers run with PYTHONDONTWRITEBYTECODE=1, as in the image: an install without bytecode
for a module compiles it on every start. Numbers depend on the machine's other load:
compare venvs within one run.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.images import encode, mnist_sample, multipart, render  # noqa: E402
from tests.recognizer.batch_helpers import labelled_zip  # noqa: E402

BUILD_INPUTS = ("requirements-serving.txt", "bin/build-serving-venv", "bin/compile_serving.py")

IMPORT_STEPS = r"""
import json, os, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
steps = [("python", rss(), 0.0)]
def step(name, action):
    started = time.perf_counter()
    action()
    steps.append((name, rss(), round(time.perf_counter() - started, 3)))
step("numpy", lambda: __import__("numpy"))
step("Pillow", lambda: __import__("PIL.Image"))
step("scipy.ndimage", lambda: __import__("scipy.ndimage"))
step("ai_edge_litert", lambda: __import__("ai_edge_litert.interpreter"))
import django
step("django.setup", django.setup)
def wsgi():
    from django.core.wsgi import get_wsgi_application
    get_wsgi_application()
    import recognizer.api, recognizer.views  # what the first request imports through the URLconf
step("wsgi app + URLconf", wsgi)
def model():
    from recognizer.serving import served_model
    served_model()
step("model loaded", model)
print(json.dumps(steps))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float] | None:
    """RSS, and USS (private pages: what the process alone costs), in MB."""
    try:
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        return None
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"rss": round(fields["Rss"] / 1024, 1), "uss": round(uss / 1024, 1)}


def children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(proc.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def venv_size(venv: Path) -> dict:
    site = next((venv / "lib").glob("python3*/site-packages"))
    sizes = {}
    for entry in site.iterdir():
        if entry.name.endswith((".dist-info", "__pycache__")):
            continue
        du = subprocess.run(["du", "-sm", str(entry)], capture_output=True, text=True, check=True)
        sizes[entry.name] = int(du.stdout.split()[0])
    total = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True, check=True)
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
    pyc = list(venv.rglob("*.pyc"))
    return {
        "installed_mb": int(total.stdout.split()[0]),
        "bytecode_mb": round(sum(path.stat().st_size for path in pyc) / 2**20, 1),
        "bytecode_files": len(pyc),
        "pip_installed": (site / "pip").is_dir(),
        "largest_mb": dict(largest),
    }


def post(port: int, body_and_type: tuple[bytes, str], timeout: float = 30) -> int:
    body, content_type = body_and_type
    conn = HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def first_answer(port: int, body, since: float, timeout: float = 60) -> float:
    """Seconds from `since` until a prediction is answered 200 (retrying refused connections)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if post(port, body) == 200:
                return round(time.monotonic() - since, 3)
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("no prediction answered")


def send(port: int, bodies, count: int, threads: int = 4) -> int:
    errors = [0]
    lock = threading.Lock()

    def one(n: int) -> None:
        try:
            ok = post(port, bodies[n % len(bodies)]) == 200
        except OSError:
            ok = False
        if not ok:
            with lock:
                errors[0] += 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(count)))
    return errors[0]


def gunicorn_start(python: Path, env: dict, port: int, *extra: str) -> subprocess.Popen:
    command = [str(python.parent / "gunicorn"), "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
               "--bind", f"127.0.0.1:{port}", "--workers", "1", *extra]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def gunicorn_stop(master: subprocess.Popen) -> None:
    master.terminate()
    master.wait(timeout=30)


def recycles(python: Path, env: dict, bodies, *, every: int = 20, times: int = 3) -> list[float]:
    """gunicorn with --max-requests: seconds from the answer after which a worker ends to the
    next answer, which its fresh replacement gives (one client, one request after another)."""
    port = free_port()
    master = gunicorn_start(python, env, port, "--max-requests", str(every), "--max-requests-jitter", "0")
    try:
        first_answer(port, bodies[0], time.monotonic())
        seconds = []
        for _ in range(times):
            for n in range(every - 2):  # with the one just answered, every - 1 requests
                post(port, bodies[n % len(bodies)])
            (worker,) = children(master.pid)
            post(port, bodies[0])  # the worker's last request: it exits after answering
            ended = time.monotonic()
            seconds.append(first_answer(port, bodies[1], ended))  # the fresh worker's first request
            if children(master.pid) == [worker]:
                raise RuntimeError("the worker was not recycled: the request count is off")
        return seconds
    finally:
        gunicorn_stop(master)


def startup(python: Path, env: dict, bodies) -> dict:
    """Launch to first prediction, kill to the fresh worker's first, and recycles."""
    port = free_port()
    launched = time.monotonic()
    master = gunicorn_start(python, env, port, "--max-requests", "0")
    try:
        result = {"launch_to_first_prediction_s": first_answer(port, bodies[0], launched)}
        (worker,) = children(master.pid)
        killed = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        result["kill_to_fresh_worker_prediction_s"] = first_answer(port, bodies[1], killed)
    finally:
        gunicorn_stop(master)
    result["max_requests_recycle_s"] = recycles(python, env, bodies)
    return result


def web_footprint(python: Path, env: dict, options, bodies) -> dict:
    port = free_port()
    launched = time.monotonic()
    master = gunicorn_start(python, env, port, "--max-requests", "0")
    try:
        result = {"launch_to_first_prediction_s": first_answer(port, bodies[0], launched)}
        send(port, bodies, options.warmup)
        (worker,) = children(master.pid)
        result["worker_after_warmup_mb"] = memory_mb(worker)
        result["master_mb"] = memory_mb(master.pid)
        started = time.monotonic()
        result["errors"] = send(port, bodies, options.predictions)
        result["predictions_per_s"] = round(options.predictions / (time.monotonic() - started), 1)
        result[f"worker_after_{options.predictions}_mb"] = memory_mb(worker)
        # A fresh worker: kill this one; the master forks another, which answers the next request.
        killed = time.monotonic()
        os.kill(worker, signal.SIGKILL)
        result["kill_to_fresh_worker_prediction_s"] = first_answer(port, bodies[1], killed)
        send(port, bodies, options.warmup)
        (fresh,) = children(master.pid)
        result["fresh_worker_after_warmup_mb"] = memory_mb(fresh)
    finally:
        gunicorn_stop(master)
    result["max_requests_recycle_s"] = recycles(python, env, bodies)
    result["without_preload"] = startup(python, {**env, "GUNICORN_PRELOAD": "false"}, bodies)
    return result


def batch_footprint(python: Path, env: dict, options, folder: Path) -> dict:
    archive = folder / "digits.zip"
    archive.write_bytes(labelled_zip(options.images))
    worker = subprocess.Popen(
        [str(python.parent / "celery"), "-A", "mnistsite", "worker", "-Q", "default", "--concurrency", "1",
         "--hostname", f"footprint-{os.getpid()}@%h", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        started = time.monotonic()
        done = subprocess.run(
            [str(python), "manage.py", "batch_predict", str(archive), "--wait", "--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=options.timeout,
        )  # fmt: skip
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        result = {
            "job": {key: summary.get(key) for key in ("status", "total", "succeeded", "images_per_second")},
            "seconds": round(time.monotonic() - started, 1),
            "main_mb": memory_mb(worker.pid),
            "pool_mb": [memory_mb(pid) for pid in children(worker.pid)],
        }
        return result
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def measure(name: str, venv: Path, options, bodies) -> dict:
    python = venv / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix=f"footprint-{name}-") as tmp:
        folder = Path(tmp)
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "VIRTUAL_ENV"))},
            "DJANGO_SETTINGS_MODULE": "mnistsite.settings",
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "CELERY_BROKER_URL": f"embedded+sqlite:///{folder / 'broker.sqlite3'}",
            "MEDIA_ROOT": str(folder / "media"),
            "MODEL_DIR": str(folder / "models"),
            "PREDICT_RATE_LIMIT": "off",
            "GUNICORN_ACCESS_LOG": "/dev/null",
            "LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
            **dict(pair.split("=", 1) for pair in options.env),
        }
        for command in (["migrate", "-v", "0"], ["register_model", "--default"]):
            subprocess.run([str(python), "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        steps = subprocess.run([str(python), "-c", IMPORT_STEPS], cwd=ROOT, env=env, capture_output=True, text=True)
        if steps.returncode:
            raise RuntimeError(steps.stderr[-3000:])
        result = {
            "venv": str(venv),
            **venv_size(venv),
            "imports_rss_mb": {step: {"rss": rss, "s": s} for step, rss, s in json.loads(steps.stdout)},
            "web": web_footprint(python, env, options, bodies),
        }
        print(json.dumps({name: result}, indent=2), flush=True)  # the web's figures, whatever the batch does
        if options.images:
            result["batch_worker"] = batch_footprint(python, env, options, folder)
        return result


def built_venvs() -> dict[str, str]:
    """The serving lock installed the image's way and pip's default way (bin/build-serving-venv),
    rebuilt when the lock or the build scripts change."""
    sources = b"".join((ROOT / name).read_bytes() for name in BUILD_INPUTS)
    key = hashlib.sha256(sources).hexdigest()[:16]
    venvs = {}
    for name, flags in (("image", []), ("pip-default", ["--pip-default"])):
        venv = ROOT / "var" / "venvs" / f"footprint-{name}-{key}"
        if not (venv / ".installed").is_file():
            for stale in (ROOT / "var" / "venvs").glob(f"footprint-{name}-*"):
                shutil.rmtree(stale)
            subprocess.run(["bin/build-serving-venv", str(venv), *flags], cwd=ROOT, check=True)
        venvs[name] = str(venv)
    return venvs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", action="append", default=[], help="NAME=PATH of a venv; repeat for several.")
    parser.add_argument("--build", action="store_true", help="measure the serving lock installed both ways")
    parser.add_argument("--predictions", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--images", type=int, default=10_000, help="Images in the batch job (0: no batch worker).")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the servers (MALLOC_ARENA_MAX=2).")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    venvs = built_venvs() if options.build else {}
    venvs.update(spec.split("=", 1) for spec in options.venv)
    if not venvs:
        parser.error("give --build or --venv")

    images, _ = mnist_sample()
    bodies = [multipart(encode(render(image))) for image in images]
    results = {
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start",
        "env": options.env,
    }
    for name, path in venvs.items():
        results[name] = measure(name, Path(path).resolve(), options, bodies)
        print(json.dumps({name: results[name]}, indent=2), flush=True)
    results["load_average_end"] = round(os.getloadavg()[0], 1)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
