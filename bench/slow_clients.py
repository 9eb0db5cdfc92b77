"""Slow-client benchmark (issue 14): the site with and without 50 clients that send a request
body at one byte a second, through nginx (nginx.conf) and, to compare, on gunicorn directly.

    .venv/bin/python bench/slow_clients.py [--seconds 15] [--rounds 3] [--attackers 50] [--json out.json]

Starts gunicorn (gunicorn.conf.py, 4 sync workers) on the database in DATABASE_URL and Debian's
nginx in front of it, both on loopback. Through the proxy, --rounds stretches of --seconds
without the attack and as many with it, in turns; then gunicorn directly, once without and once
with the attack (--direct-seconds each; the last, since it leaves the workers stuck).
In each, one client asks /api/health every 50 ms and --predict-clients clients post MNIST PNGs
to /api/predict; it prints health p50/p99 (a request that fails or takes over 10 s counts as
10 s), predictions per second, errors, and the WORKER TIMEOUT lines gunicorn logged.
Targets: through the proxy under attack, health p99 < 100 ms and predict throughput >= 80% of
the proxy's run without the attack.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.predict_load import wait_ready  # noqa: E402
from tests.images import digit_png, multipart  # noqa: E402
from tests.mnistsite.test_proxy import Nginx, SlowClients, free_port, gunicorn_start  # noqa: E402

TIMEOUT = 10.0


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[int(q * (len(ordered) - 1))], 1) if ordered else None


def call(port: int, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> bool:
    conn = HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type} if content_type else {})
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def measure(port: int, *, seconds: float, predict_clients: int, bodies: list[tuple[bytes, str]]) -> dict:
    """One stretch of load: the raw health latencies and the prediction counts."""
    stop_at = time.monotonic() + seconds
    raw = {"health_ms": [], "health_errors": 0, "predicted": 0, "predict_errors": 0, "seconds": 0.0}
    lock = threading.Lock()

    def health() -> None:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            ok = call(port, "GET", "/api/health")
            elapsed = time.perf_counter() - started
            raw["health_ms"].append(1000 * (elapsed if ok else max(elapsed, TIMEOUT)))
            raw["health_errors"] += not ok
            time.sleep(0.05)

    def predict(offset: int) -> None:
        i = offset
        while time.monotonic() < stop_at:
            body, content_type = bodies[i % len(bodies)]
            i += 1
            ok = call(port, "POST", "/api/predict", body, content_type)
            with lock:
                raw["predicted" if ok else "predict_errors"] += 1

    threads = [threading.Thread(target=health)]
    threads += [threading.Thread(target=predict, args=(n,)) for n in range(predict_clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    raw["seconds"] = time.monotonic() - began
    return raw


def phase(port: int, *, attackers: int, seconds: float, gunicorn_log: Path, args, bodies) -> dict:
    timeouts_before = gunicorn_log.read_text().count("WORKER TIMEOUT")
    with SlowClients(port, count=attackers) as attack:
        time.sleep(2 if attackers else 0)  # all connected and sending
        raw = measure(port, seconds=seconds, predict_clients=args.predict_clients, bodies=bodies)
        raw["attackers_connected"] = attack.connected
    raw["worker_timeouts"] = gunicorn_log.read_text().count("WORKER TIMEOUT") - timeouts_before
    return raw


def summary(raws: list[dict]) -> dict:
    """Several stretches of the same phase as one."""
    health_ms = [ms for raw in raws for ms in raw["health_ms"]]
    return {
        "health_requests": len(health_ms),
        "health_p50_ms": percentile(health_ms, 0.5),
        "health_p99_ms": percentile(health_ms, 0.99),
        "health_errors": sum(raw["health_errors"] for raw in raws),
        "predict_rps": round(sum(raw["predicted"] for raw in raws) / sum(raw["seconds"] for raw in raws), 1),
        "predict_errors": sum(raw["predict_errors"] for raw in raws),
        "attackers_connected": min(raw["attackers_connected"] for raw in raws),
        "worker_timeouts": sum(raw["worker_timeouts"] for raw in raws),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="Each stretch through the proxy.")
    parser.add_argument("--rounds", type=int, default=3, help="Stretches through the proxy, each with and without.")
    parser.add_argument("--direct-seconds", type=float, default=40.0, help="Each stretch on gunicorn directly.")
    parser.add_argument("--attackers", type=int, default=50)
    parser.add_argument("--predict-clients", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()

    for command in (["migrate", "--noinput", "-v", "0"], ["register_model", "--default"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True, capture_output=True)
    bodies = [multipart(digit_png(i)[0]) for i in range(10)]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        gunicorn_port = free_port()
        gunicorn_log = Path(tmp) / "gunicorn.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        server = gunicorn_start(port=gunicorn_port, env=env, log_path=gunicorn_log, workers=args.web_workers)
        nginx = Nginx(upstream=f"127.0.0.1:{gunicorn_port}", workdir=Path(tmp) / "nginx").start()
        common = {"gunicorn_log": gunicorn_log, "args": args, "bodies": bodies}
        try:
            wait_ready(f"http://127.0.0.1:{gunicorn_port}/api/health")
            measure(nginx.port, seconds=2, predict_clients=args.predict_clients, bodies=bodies)  # warm up
            runs: dict[str, list[dict]] = {"proxy": [], "proxy + attack": []}
            # Through the proxy: without and with the attack in turns, so that the load others put
            # on the machine falls on both alike.
            for _ in range(args.rounds):
                for name, attackers in (("proxy", 0), ("proxy + attack", args.attackers)):
                    raw = phase(nginx.port, attackers=attackers, seconds=args.seconds, **common)
                    runs[name].append(raw)
            # Gunicorn directly, once each, past its 30 s worker timeout; the attack last, since
            # it leaves the workers stuck.
            for name, attackers in (("direct", 0), ("direct + attack", args.attackers)):
                runs[name] = [phase(gunicorn_port, attackers=attackers, seconds=args.direct_seconds, **common)]
            for name, raws in runs.items():
                results[name] = summary(raws)
                print(f"{name:>16}: {json.dumps(results[name])}", flush=True)
        finally:
            nginx.stop()
            server.terminate()
            server.wait(timeout=60)

    under_attack = results["proxy + attack"]
    ratio = under_attack["predict_rps"] / max(results["proxy"]["predict_rps"], 1e-9)
    verdict = {
        "health_p99_ms_under_attack": under_attack["health_p99_ms"],
        "predict_throughput_ratio": round(ratio, 2),
        "targets_met": (under_attack["health_p99_ms"] or TIMEOUT * 1000) < 100 and ratio >= 0.8,
    }
    print(json.dumps(verdict))
    if args.json:
        args.json.write_text(json.dumps({"phases": results, "summary": verdict}, indent=2) + "\n")


if __name__ == "__main__":
    main()
