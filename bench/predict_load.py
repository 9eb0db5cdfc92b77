"""Load benchmark: /api/predict through gunicorn against the earlier Flask + Keras approach,
and /api/read (a number) against /api/predict (one digit) on the same server.

    .venv/bin/python bench/predict_load.py [--clients 8] [--seconds 20] [--config env|embedded|sqlite-redis]
        [--no-read]
    .venv/bin/python bench/predict_load.py --storage s3 --rounds 3 --skip-baseline [--s3-server s3rver] [--isolate]
    .venv/bin/python bench/predict_load.py --metrics both --rounds 3 --skip-baseline

Starts both servers on loopback, sends multipart PNG uploads of MNIST test digits from N
client threads for a fixed time each, and prints requests per second, p50 and p99 latency,
errors, and how many predictions were stored (both runs). Then (unless --no-read) the same
load on /api/read with 6-digit numbers of MNIST test digits (canvas-sized, about 790x240 px)
and `read_cost_ratio`: /api/read's p50 latency over /api/predict's, and its rps ratio,
measured in one run. Bounded in time; loopback only.

--storage s3 stores the uploads in a bucket of an S3-compatible server started here (its own
process: moto's standalone server, or with --s3-server s3rver the npm package s3rver on
Node, found as $S3RVER_BIN or `s3rver` on the PATH: `npm install --prefix DIR s3rver@3.7.1`),
measured back to back with the local disk, --rounds times in alternating order, with the ratio
of each round and the median and range over the rounds; it
also checks that another process (another MEDIA_ROOT, the same database and bucket) reads an
upload's original. --isolate pins the S3 server to the last CPU and everything else this
script starts (gunicorn, wrk) to the others, in the local and the bucket runs alike: the
bucket as another host, as deployed, rather than a process that takes the web's cores.

--metrics off serves with METRICS_ENABLED=false (no metrics middleware, no counters);
--metrics both serves with metrics on, then off, --rounds times, and reports the CPU time of
gunicorn's workers per request (/proc) each way and their difference: what /metrics costs.
"""

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bench.configs import CONFIGS, config_env  # noqa: E402
from tests.images import encode, mnist_number, mnist_sample, multipart, render  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def drive(port: int, path: str, bodies: list[tuple[bytes, str]], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int) -> None:
        mine, failed = [], 0
        i = offset
        while time.monotonic() < stop_at:
            body, content_type = bodies[i % len(bodies)]
            i += 1
            started = time.perf_counter()
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", path, body=body, headers={"Content-Type": content_type})
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    failed += 1
                    continue
            except OSError:
                failed += 1
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
    }


WRK_SCRIPT = """
local bodies = {}
local n = 0
for path in io.lines(os.getenv("BODIES_LIST")) do
  local f = io.open(path, "rb"); bodies[#bodies + 1] = f:read("*all"); f:close()
end
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", os.getenv("PREDICT_PATH"), {["Content-Type"] = os.getenv("CONTENT_TYPE")}, bodies[n])
end
"""


def drive_wrk(port: int, path: str, bodies: list[tuple[bytes, str]], clients: int, seconds: float) -> dict:
    """The same load from wrk (C, little CPU of its own), so the server gets the cores."""
    import re
    import resource
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        boundary_type = bodies[0][1]
        listing = Path(tmp) / "bodies.txt"
        names = []
        for i, (body, content_type) in enumerate(bodies):
            assert content_type == boundary_type
            (Path(tmp) / f"{i}.bin").write_bytes(body)
            names.append(str(Path(tmp) / f"{i}.bin"))
        listing.write_text("\n".join(names) + "\n")
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT)
        env = {**os.environ, "BODIES_LIST": str(listing), "PREDICT_PATH": path, "CONTENT_TYPE": boundary_type}
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(clients), "-d", f"{int(seconds)}s", "--latency", "-s", str(script),
             f"http://127.0.0.1:{port}"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the one child that ended

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return {
        "requests": requests,
        "errors": errors,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "client": "wrk",
        # The load generator's own CPU per request (user + system), on the web's cores here.
        "client_cpu_ms": 1000
        * sum(getattr(children_after, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime"))
        / max(requests, 1),
    }


def start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int, *, kinds: tuple[int, ...] = (11, 12)) -> float:
    """User + system CPU of a process (Linux /proc); kinds=(12,): system (kernel) time only."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(fields[k]) for k in kinds) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores, every process and the kernel: /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int, *, kinds: tuple[int, ...] = (11, 12)) -> float:
    """CPU of a process's live children (gunicorn's workers)."""
    total = 0.0
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(int(child), kinds=kinds)
    return total


S3_KEY = "S3RVER"  # s3rver accepts only its own key pair (S3RVER/S3RVER); moto accepts any


def s3rver_binary() -> str:
    found = os.environ.get("S3RVER_BIN") or shutil.which("s3rver")
    if not found:
        raise SystemExit("--s3-server s3rver: install it (npm install --prefix DIR s3rver@3.7.1) and set S3RVER_BIN")
    return found


def s3_server_start(kind: str, data_dir: Path, cpus: str | None = None) -> tuple[subprocess.Popen, str]:
    """An S3-protocol server on a free loopback port, its own process (on `cpus` only, when
    given: taskset's list); (process, url). moto: Python; s3rver: Node, objects as files in data_dir."""
    port = free_port()
    if kind == "moto":
        args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    else:
        args = [s3rver_binary(), "-d", str(data_dir), "-a", "127.0.0.1", "-p", str(port), "--silent"]
    server = start(["taskset", "-c", cpus, *args] if cpus else args, dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # any HTTP answer (s3rver refuses an unsigned GET) means it listens
        try:
            urllib.request.urlopen(f"{url}/", timeout=5).close()  # noqa: S310 - loopback
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the {kind} S3 server did not start") from None
            time.sleep(0.3)
    return server, url


def s3_env(url: str, bucket: str) -> dict[str, str]:
    return {
        "STORAGE_BUCKET": bucket,
        "STORAGE_ENDPOINT_URL": url,
        "STORAGE_REGION": "us-east-1",
        "STORAGE_ACCESS_KEY": S3_KEY,
        "STORAGE_SECRET_KEY": S3_KEY,
    }


def s3_client(url: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
    )


def s3_object_count(url: str, bucket: str) -> int:
    # ListObjects (v1): s3rver answers ListObjectsV2 with an internal error past 1,000 keys.
    pages = s3_client(url).get_paginator("list_objects").paginate(Bucket=bucket)
    return sum(len(page.get("Contents", [])) for page in pages)


def original_read_elsewhere(env: dict, media_root: Path) -> bool:
    """Whether a process with another MEDIA_ROOT (another host: only the database and the
    bucket in common) reads the newest prediction's original through the storage."""
    script = (
        "from recognizer.models import Prediction; "
        "p = Prediction.objects.exclude(original='').latest('id'); print(len(p.original.read()))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**env, "MEDIA_ROOT": str(media_root)},
        capture_output=True,
        text=True,
    )
    return out.returncode == 0 and int(out.stdout.strip().splitlines()[-1]) > 0


def mnistsite_run(env: dict, options, bodies, run, *, s3_pid: int | None = None, read: bool = False) -> dict:
    """One gunicorn serving /api/predict under the load; its figures. With read, then
    /api/read on 6-digit numbers on the same server, and the cost ratio of the two."""
    python_bin = Path(sys.executable).parent
    before = stored_predictions(env)
    port = free_port()
    web = start(
        [str(python_bin / "gunicorn"), "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", str(options.web_workers)],
        env,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/health")
        drive(port, "/api/predict", bodies, options.clients, 3.0)  # warm every worker's model
        web_cpu, server_cpu = children_cpu_seconds(web.pid), cpu_seconds(s3_pid) if s3_pid else 0.0
        web_sys = children_cpu_seconds(web.pid, kinds=(12,))
        machine = machine_busy_seconds()
        result = run(port, "/api/predict", bodies, options.clients, options.seconds)
        # Everything the machine did per request: web, S3 server, wrk, PostgreSQL, Redis, kernel, others.
        result["machine_cpu_ms"] = 1000 * (machine_busy_seconds() - machine) / max(result["requests"], 1)
        # CPU per request: the web's own, and the S3 server's (on this machine here, another in production).
        result["web_cpu_ms"] = 1000 * (children_cpu_seconds(web.pid) - web_cpu) / max(result["requests"], 1)
        # Of which in the kernel: on loopback the TCP work of both ends is mostly charged to the sender.
        result["web_sys_cpu_ms"] = (
            1000 * (children_cpu_seconds(web.pid, kinds=(12,)) - web_sys) / max(result["requests"], 1)
        )
        if s3_pid:
            result["s3_server_cpu_ms"] = 1000 * (cpu_seconds(s3_pid) - server_cpu) / max(result["requests"], 1)
        if read:
            numbers = [multipart(encode(mnist_number([(k + j) % 30 for j in range(6)]))) for k in range(0, 30, 3)]
            drive(port, "/api/read", numbers, options.clients, 2.0)
            answer = run(port, "/api/read", numbers, options.clients, options.seconds)
            result["read_6_digits"] = answer
            result["read_cost_ratio"] = {
                "p50": answer["p50_ms"] / result["p50_ms"] if answer["p50_ms"] and result["p50_ms"] else None,
                "rps": result["rps"] / max(answer["rps"], 1e-9),
            }
    finally:
        web.terminate()
        web.wait(timeout=30)
    result["stored"] = stored_predictions(env) - before
    result["web_workers"] = options.web_workers
    return result


def storage_compare(env: dict, options, bodies, run) -> dict:
    """The local disk and an S3 bucket, back to back, --rounds times (a shared machine drifts),
    in alternating order (local first in odd rounds, the bucket first in even ones), so that a
    drift within a round favours neither. With --isolate, the S3 server on the last CPU, this
    script and all it starts (gunicorn, wrk) on the others, in both runs of every round."""
    import tempfile

    cpus = sorted(os.sched_getaffinity(0))
    s3_cpus = None
    if options.isolate:
        if len(cpus) < 2:
            raise SystemExit("--isolate needs at least 2 CPUs")
        s3_cpus = str(cpus[-1])
        os.sched_setaffinity(0, cpus[:-1])  # inherited by gunicorn, wrk and manage.py
    rounds = []
    with tempfile.TemporaryDirectory(prefix="predict-load-") as tmp:
        server, url = s3_server_start(options.s3_server, Path(tmp) / "s3", s3_cpus)
        try:
            for number in range(options.rounds):
                media = Path(tmp) / f"media-{number}"
                bucket = f"bench-{number}-{os.getpid()}"
                s3_client(url).create_bucket(Bucket=bucket)
                s3 = {**env, "MEDIA_ROOT": str(media), **s3_env(url, bucket)}
                order = ("local", "s3") if number % 2 == 0 else ("s3", "local")
                row = {"order": list(order)}
                for mode in order:
                    load_before = os.getloadavg()[0]
                    if mode == "local":
                        row[mode] = mnistsite_run({**env, "MEDIA_ROOT": str(media)}, options, bodies, run)
                    else:
                        row[mode] = mnistsite_run(s3, options, bodies, run, s3_pid=server.pid)
                        row[mode]["objects_in_bucket"] = s3_object_count(url, bucket)
                        # Before the local run adds newer predictions, whose originals are on this disk.
                        row[mode]["original_read_elsewhere"] = original_read_elsewhere(s3, Path(tmp) / "elsewhere")
                    row[mode]["load_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                row["ratio"] = row["s3"]["rps"] / max(row["local"]["rps"], 1e-9)
                rounds.append(row)
                print(json.dumps({"round": number + 1, **row}), file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=30)
            os.sched_setaffinity(0, cpus)
    ratios = [row["ratio"] for row in rounds]
    # What the bucket costs the web itself, apart from an S3 server that shares these cores here.
    cpu_ratios = [row["local"]["web_cpu_ms"] / max(row["s3"]["web_cpu_ms"], 1e-9) for row in rounds]

    def spread(values: list[float]) -> dict:
        return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
                "max": round(max(values), 3)}  # fmt: skip

    return {
        "s3_server": options.s3_server,
        "isolated": f"S3 server on CPU {s3_cpus}, the rest on {cpus[:-1]}" if s3_cpus else None,
        "rounds": rounds,
        "ratios": [round(ratio, 3) for ratio in ratios],
        "median_ratio": statistics.median(ratios),
        "ratio": spread(ratios),
        "rps": {mode: spread([row[mode]["rps"] for row in rounds]) for mode in ("local", "s3")},
        "web_cpu_ms": {mode: spread([row[mode]["web_cpu_ms"] for row in rounds]) for mode in ("local", "s3")},
        "s3_server_cpu_ms": spread([row["s3"]["s3_server_cpu_ms"] for row in rounds]),
        "machine_cpu_ms": {mode: spread([row[mode]["machine_cpu_ms"] for row in rounds]) for mode in ("local", "s3")},
        "client_cpu_ms": {
            mode: spread([row[mode].get("client_cpu_ms", 0.0) for row in rounds]) for mode in ("local", "s3")
        },
        "web_cpu_ratios": [round(ratio, 3) for ratio in cpu_ratios],
        "median_web_cpu_ratio": statistics.median(cpu_ratios),
        "load_1min": spread(
            [load for row in rounds for mode in ("local", "s3") for load in row[mode]["load_1min_before_after"]]
        ),
    }


def stored_predictions(env: dict) -> int:
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from recognizer.models import Prediction; print(Prediction.objects.count())",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def metrics_compare(env: dict, options, bodies, run) -> dict:
    """Metrics on, then off (METRICS_ENABLED=false), --rounds times: the web's CPU per request each way."""
    # Workers are not recycled during a run: none of their CPU time is lost between two readings.
    env = {**env, "GUNICORN_MAX_REQUESTS": "0"}
    rounds = []
    for number in range(options.rounds):
        row = {mode: mnistsite_run({**env, "METRICS_ENABLED": flag}, options, bodies, run)
               for mode, flag in (("on", "true"), ("off", "false"))}  # fmt: skip
        row["cost_ms"] = row["on"]["web_cpu_ms"] - row["off"]["web_cpu_ms"]
        rounds.append(row)
        print(json.dumps({"round": number + 1, **row}), file=sys.stderr)
    return {
        "rounds": rounds,
        "web_cpu_ms_on_median": statistics.median(row["on"]["web_cpu_ms"] for row in rounds),
        "web_cpu_ms_off_median": statistics.median(row["off"]["web_cpu_ms"] for row in rounds),
        "cost_ms_per_request": [row["cost_ms"] for row in rounds],
        "median_cost_ms_per_request": statistics.median(row["cost_ms"] for row in rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")))
    parser.add_argument("--baseline-workers", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--no-read", action="store_true", help="Skip the /api/read run (6-digit numbers).")
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    parser.add_argument(
        "--storage",
        choices=["local", "s3"],
        default="local",
        help="local: uploads on the local disk (the default); s3: the local disk, then a bucket of an "
        "S3 server started here (moto), back to back, --rounds times, with their ratio.",
    )
    parser.add_argument(
        "--s3-server",
        choices=["moto", "s3rver"],
        default="moto",
        help="--storage s3: moto (Python, from the dev lock) or s3rver (Node; $S3RVER_BIN or on the PATH).",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="--storage s3: the S3 server on the last CPU, gunicorn and wrk on the others (both runs): "
        "the bucket as another host.",
    )
    parser.add_argument(
        "--metrics",
        choices=["on", "off", "both"],
        default="on",
        help="on: as deployed; off: METRICS_ENABLED=false; both: on then off, --rounds times, with the CPU cost.",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="Rounds of local disk then bucket (--storage s3), or on then off."
    )
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument(
        "--image",
        choices=["mnist", "canvas"],
        default="mnist",
        help="mnist: 28x28 PNGs like the Flask app's clients; canvas: 280x280 scaled-up drawings.",
    )
    parser.add_argument(
        "--config",
        choices=CONFIGS,
        default="env",
        help="env: DATABASE_URL and CELERY_BROKER_URL as set; embedded: the default with no Redis "
        "(SQLite and the embedded broker, files under var/bench/); sqlite-redis: SQLite with Redis.",
    )
    options = parser.parse_args()

    images, _ = mnist_sample()
    if options.image == "mnist":
        bodies = [multipart(encode(Image.fromarray(image))) for image in images]
    else:
        bodies = [multipart(encode(render(image, style="paper"))) for image in images]
    run = drive_wrk if options.client == "wrk" else drive
    env = {**os.environ, "GUNICORN_ACCESS_LOG": "/dev/null", "PREDICT_RATE_LIMIT": "off", "LOG_LEVEL": "WARNING"}
    env.update(config_env(options.config))
    python_bin = Path(sys.executable).parent
    results = {
        "machine": f"{os.cpu_count()} cores, {sys.platform}",
        "clients": options.clients,
        "client": options.client,
        "image": options.image,
        "config": options.config,
    }

    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "register_model", "--default"], cwd=ROOT, env=env, check=True)
    if options.metrics == "off":
        env["METRICS_ENABLED"] = "false"
    if options.storage != "local":
        results["storage"] = storage_compare(env, options, bodies, run)
    elif options.metrics == "both":
        results["metrics"] = metrics_compare(env, options, bodies, run)
    else:
        results["mnistsite"] = mnistsite_run(env, options, bodies, run, read=not options.no_read)
        for key in ("read_6_digits", "read_cost_ratio"):
            if key in results["mnistsite"]:
                results[key] = results["mnistsite"].pop(key)

    if not options.skip_baseline and "mnistsite" in results:
        port = free_port()
        baseline_env = {**env, "BASELINE_MODEL": str(ROOT / "models" / "default" / "model.keras")}
        baseline = start(
            [
                str(python_bin / "gunicorn"),
                "bench.flask_baseline:app",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(options.baseline_workers),
                "--timeout",
                "120",
            ],
            baseline_env,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/health")
            drive(port, "/predict", bodies, options.clients, 5.0)  # load Keras in every worker
            results["flask_keras"] = run(port, "/predict", bodies, options.clients, options.seconds)
            results["flask_keras"]["workers"] = options.baseline_workers
        finally:
            baseline.terminate()
            baseline.wait(timeout=30)
        results["throughput_ratio"] = results["mnistsite"]["rps"] / max(results["flask_keras"]["rps"], 1e-9)

    print(json.dumps(results, indent=2))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
