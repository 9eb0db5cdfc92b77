"""Soak test: a steady request rate against a running server (`make run`) for a fixed time.

    .venv/bin/python bench/soak.py --url http://127.0.0.1:8000 --rate 100 --seconds 300

Sends multipart PNG uploads of MNIST test digits to /api/predict at a fixed rate from a pool
of client threads (loopback only, bounded in count and time), then prints requests per
second, p50/p99 latency, errors, and the resident memory of every gunicorn and Celery
worker process at the start and at the end.
"""

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.predict_load import multipart  # noqa: E402
from tests.images import encode, mnist_sample, render  # noqa: E402


def server_processes() -> dict[int, str]:
    """pid -> role for the gunicorn workers and Celery processes running on this machine."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "gunicorn" in cmdline and "mnistsite.wsgi" in cmdline:
            found[int(proc.name)] = "gunicorn"
        elif "celery" in cmdline and "mnistsite" in cmdline and "worker" in cmdline:
            found[int(proc.name)] = "celery"
    return found


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def warm(address, body_and_type) -> None:
    body, content_type = body_and_type
    conn = HTTPConnection(address.hostname, address.port or 80, timeout=30)
    conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
    conn.getresponse().read()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=100.0, help="Requests per second to hold.")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--warmup", type=int, default=400, help="Requests sent before measuring.")
    options = parser.parse_args()
    address = urlparse(options.url)
    if address.hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("soak only loopback servers")

    images, _ = mnist_sample()
    bodies = [multipart(encode(render(image))) for image in images]
    # Warm every worker first (each loads the model lazily on its first request), so that
    # "start" memory is that of a serving process and growth means a leak.
    with ThreadPoolExecutor(max_workers=options.threads) as pool:
        list(pool.map(lambda n: warm(address, bodies[n % len(bodies)]), range(options.warmup)))
    processes = server_processes()
    memory_start = {pid: rss_mb(pid) for pid in processes}

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        body, content_type = bodies[n % len(bodies)]
        started = time.perf_counter()
        try:
            conn = HTTPConnection(address.hostname, address.port or 80, timeout=30)
            conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            response.read()
            conn.close()
        except OSError as exc:
            with lock:
                errors.append(repr(exc))
            return
        elapsed = time.perf_counter() - started
        with lock:
            if response.status == 200:
                latencies.append(elapsed)
            else:
                errors.append(f"HTTP {response.status}")

    total = int(options.rate * options.seconds)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=options.threads) as pool:
        for n in range(total):
            # Hold the rate: request n leaves at began + n / rate, whatever the latency.
            delay = began + n / options.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n)
    elapsed = time.perf_counter() - began
    latencies.sort()
    memory_end = {pid: rss_mb(pid) for pid in processes}
    result = {
        "url": options.url,
        "target_rate": options.rate,
        "seconds": round(elapsed, 1),
        "requests": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2) if latencies else None,
        "memory_mb": {
            f"{processes[pid]}:{pid}": {"start": memory_start[pid], "end": memory_end[pid]} for pid in processes
        },
        "run_id": uuid.uuid4().hex[:8],
    }
    print(json.dumps(result, indent=2))
    if options.json:
        options.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
