"""nginx.conf, as compose uses it, run by Debian's nginx in front of an upstream: a real gunicorn
for the slow-client attack of issue 14, a small echo server where the test needs to see exactly
what the proxy forwards. The helpers here are bench/slow_clients.py's too."""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.conftest import ROOT, subprocess_env, wait_until
from tests.images import digit_png, multipart

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NGINX_CONF = ROOT / "nginx.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    assert found, "nginx (Debian package) is needed to test the proxy: apt-get install -y nginx"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_conf_render(*, upstream: str, port: int, static_root: Path, workdir: Path) -> Path:
    """nginx.conf with this machine's addresses and paths in place of compose's (the values its
    header lists); every one must be found, so that a renamed value fails here, not silently."""
    text = NGINX_CONF.read_text()
    user = "root" if os.geteuid() == 0 else "nobody"  # ignored, with a warning, when not root
    for compose_value, here in {
        "web:8000": upstream,
        "listen 80 ": f"listen 127.0.0.1:{port} ",
        "/app/staticfiles": str(static_root),
        "/var/cache/nginx": str(workdir / "cache"),
        "/var/run/nginx.pid": str(workdir / "nginx.pid"),
        "user nginx;": f"user {user};",
    }.items():
        assert compose_value in text, f"nginx.conf no longer has {compose_value!r}"
        text = text.replace(compose_value, here)
    (workdir / "cache").mkdir(parents=True, exist_ok=True)
    rendered = workdir / "nginx.conf"
    rendered.write_text(text)
    return rendered


def http_get(url: str, path: str, *, timeout: float = 10.0, headers: dict | None = None) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_post(url: str, path: str, body: bytes, content_type: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def answering(url: str, path: str = "/api/health/live") -> bool:
    try:
        return http_get(url, path, timeout=5)[0] < 500
    except OSError:
        return False


class Nginx:
    """Debian's nginx with the rendered nginx.conf, in the foreground, as a child process."""

    def __init__(self, *, upstream: str, workdir: Path, static_root: Path | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "nginx.log"
        self.conf = nginx_conf_render(
            upstream=upstream, port=self.port, static_root=static_root or workdir / "static", workdir=workdir
        )
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [nginx_binary(), "-e", "stderr", "-p", str(self.workdir), "-c", str(self.conf), "-g", "daemon off;"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def listening() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(listening, timeout=30, message="nginx listening")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            self.process.wait(timeout=30)


def gunicorn_start(*, port: int, env: dict, log_path: Path, workers: int = 4, timeout: int = 30) -> subprocess.Popen:
    """gunicorn as gunicorn.conf.py sets it up (sync workers), on loopback, its log in log_path."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", str(timeout),
             "--access-logfile", "/dev/null"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


class SlowClients:
    """The attack of issue 14: clients that send a request's headers at once, then its body at
    one byte a second, over raw sockets, one thread each."""

    def __init__(self, port: int, *, count: int = 50, path: str = "/api/predict", body_bytes: int = 100_000):
        self.port, self.count, self.path, self.body_bytes = port, count, path, body_bytes
        self.stopping = threading.Event()
        self.connected = 0
        self.dropped = 0  # connections the server closed or refused while the attack ran
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(count)]

    def client(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        except OSError:
            with self.lock:
                self.dropped += 1
            return
        try:
            sock.sendall(
                (
                    f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                    f"Content-Type: multipart/form-data; boundary=slow\r\nContent-Length: {self.body_bytes}\r\n\r\n"
                ).encode()
            )
            with self.lock:
                self.connected += 1
            while not self.stopping.wait(1.0):
                sock.sendall(b"x")
        except OSError:
            with self.lock:
                self.connected -= 1
                self.dropped += 1
        finally:
            sock.close()

    def __enter__(self) -> "SlowClients":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)


# --------------------------------------------------------------------------
# In front of a real gunicorn: the slow-client attack
# --------------------------------------------------------------------------


@pytest.fixture
def proxied_site(transactional_db, served_default_model, tmp_path):
    """gunicorn (4 sync workers, a 10 s worker timeout) behind nginx; yields (nginx url, gunicorn log)."""
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    server = gunicorn_start(port=port, env=subprocess_env(CONN_MAX_AGE="0"), log_path=log_path, timeout=10)
    nginx = Nginx(upstream=f"127.0.0.1:{port}", workdir=tmp_path / "nginx").start()
    wait_until(lambda: answering(nginx.url) or server.poll() is not None, timeout=60, message="site up")
    assert server.poll() is None, log_path.read_text()[-3000:]
    yield nginx.url, log_path
    nginx.stop()
    server.terminate()
    server.wait(timeout=30)


def test_health_and_predict_keep_answering_while_50_clients_send_bodies_at_one_byte_a_second(proxied_site):
    url, gunicorn_log = proxied_site
    png, _ = digit_png(0)
    body, content_type = multipart(png)
    answers = []
    with SlowClients(int(url.rsplit(":", 1)[1]), count=50) as attack:
        wait_until(lambda: attack.connected == 50, timeout=30, message="50 slow clients connected")
        # Past gunicorn's 10 s worker timeout: had a slow body reached a worker, it would be killed.
        stop_at = time.monotonic() + 15
        while time.monotonic() < stop_at:
            answers.append(("health", http_get(url, "/api/health")[0]))
            answers.append(("predict", http_post(url, "/api/predict", body, content_type)[0]))
        still_connected, dropped = attack.connected, attack.dropped

    assert answers and all(code == 200 for _, code in answers), answers
    assert (still_connected, dropped) == (50, 0), "the attack held all along"
    assert "WORKER TIMEOUT" not in gunicorn_log.read_text()


# --------------------------------------------------------------------------
# In front of an echo server: what reaches the upstream
# --------------------------------------------------------------------------


class EchoUpstream(http.server.ThreadingHTTPServer):
    """Answers every request with the headers and the body length it got, and keeps them."""

    def __init__(self):
        self.seen: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(handler):
                length = int(handler.headers.get("Content-Length") or 0)
                received = len(handler.rfile.read(length)) if length else 0
                record = {"path": handler.path, "headers": dict(handler.headers.items()), "body_bytes": received}
                self.seen.append(record)
                payload = json.dumps(record).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(payload)))
                handler.end_headers()
                handler.wfile.write(payload)

            do_GET = do_POST = answer

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def echo_proxy(tmp_path_factory):
    """nginx in front of the echo server, serving static files from a folder the test fills;
    yields (nginx url, echo server, static folder)."""
    workdir = tmp_path_factory.mktemp("nginx")
    upstream = EchoUpstream()
    static_root = workdir / "collected"
    static_root.mkdir()
    nginx = Nginx(upstream=f"127.0.0.1:{upstream.server_port}", workdir=workdir, static_root=static_root).start()
    yield nginx.url, upstream, static_root
    nginx.stop()
    upstream.shutdown()


def raw_request(url: str, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send bytes as they are (headers a client library would not send); the answer's first line and headers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_forwarded_headers_are_set_by_the_proxy_not_the_client(echo_proxy):
    url, upstream, _ = echo_proxy
    port = url.rsplit(":", 1)[1]
    status, answer = http_get(
        url,
        "/api/whoami",
        headers={
            "Host": f"localhost:{port}",
            "X-Forwarded-For": "203.0.113.7, 198.51.100.1",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example",
            "Forwarded": "for=203.0.113.7",
        },
    )
    headers = {name.lower(): value for name, value in json.loads(answer)["headers"].items()}
    assert status == 200
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["host"] == f"localhost:{port}"  # with its port: the API's absolute URLs need it
    assert "x-forwarded-host" not in headers and "forwarded" not in headers


def test_a_body_reaches_the_upstream_only_once_the_client_has_sent_all_of_it(echo_proxy):
    url, upstream, _ = echo_proxy
    host, port = url.removeprefix("http://").split(":")
    before = len(upstream.seen)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhalf-")
        time.sleep(1.0)  # room for nginx to (wrongly) pass the start on
        assert len(upstream.seen) == before
        sock.sendall(b"done!")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert upstream.seen[-1]["body_bytes"] == 10


@pytest.mark.parametrize(
    ("path", "declared", "code"),
    [
        ("/api/predict", 12 * 1024 * 1024, b"413"),  # over MAX_UPLOAD_BYTES and its envelope
        ("/api/batches", 600 * 1024 * 1024, b"413"),  # over BATCH_MAX_UPLOAD_BYTES
        ("/batches/new", 600 * 1024 * 1024, b"413"),  # the page's form, the same limit
    ],
)
def test_a_body_over_the_endpoints_limit_is_refused_by_the_proxy(echo_proxy, path, declared, code):
    url, upstream, _ = echo_proxy
    before = len(upstream.seen)
    answer = raw_request(url, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n".encode())
    assert answer.split(b" ")[1] == code, answer
    assert b"application/json" in answer
    assert len(upstream.seen) == before


def test_a_batch_archive_larger_than_a_prediction_upload_reaches_the_app(echo_proxy):
    url, upstream, _ = echo_proxy
    body = b"z" * (12 * 1024 * 1024)
    status, answer = http_post(url, "/api/batches", body, "application/zip", timeout=30)
    assert status == 200
    assert json.loads(answer)["body_bytes"] == len(body)


def test_static_files_are_served_by_the_proxy_from_the_collected_folder(echo_proxy, settings):
    from django.core.management import call_command

    url, upstream, static_root = echo_proxy
    settings.STATIC_ROOT = static_root
    call_command("collectstatic", interactive=False, verbosity=0)
    before = len(upstream.seen)
    status, body = http_get(url, "/static/favicon.svg")
    assert status == 200
    assert body == (ROOT / "static" / "favicon.svg").read_bytes()
    assert len(upstream.seen) == before


def response_headers(answer: bytes) -> dict[str, str]:
    """The headers of a raw answer, names in lower case."""
    lines = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}


def proxied_get(url: str, path: str, headers: dict | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """GET through nginx: (the headers the upstream received, the headers the client got), lower case."""
    host, port = url.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        seen = json.loads(response.read())["headers"]
        return {k.lower(): v for k, v in seen.items()}, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def test_the_clients_request_id_is_passed_to_the_upstream_and_returned(echo_proxy):
    url, _, _ = echo_proxy
    seen, answered = proxied_get(url, "/api/health", {"X-Request-ID": "trace-42.a:b_c"})
    assert seen["x-request-id"] == "trace-42.a:b_c"
    assert answered["x-request-id"] == "trace-42.a:b_c"


@pytest.mark.parametrize(
    "sent",
    [None, "has spaces in it", "x" * 129, "semi;colon"],
    ids=["none", "spaces", "too-long", "semicolon"],
)
def test_without_a_usable_request_id_the_proxy_makes_one_up_and_returns_it(echo_proxy, sent):
    url, _, _ = echo_proxy
    seen, answered = proxied_get(url, "/api/health", {"X-Request-ID": sent} if sent else {})
    made_up = seen["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made_up), made_up
    assert answered["x-request-id"] == made_up
    assert proxied_get(url, "/api/health")[0]["x-request-id"] != made_up  # one per request


def test_the_proxys_own_answers_carry_the_request_id_too(echo_proxy):
    url, upstream, _ = echo_proxy
    before = len(upstream.seen)
    request = f"POST /api/predict HTTP/1.1\r\nHost: x\r\nX-Request-ID: too-big-1\r\nContent-Length: {12 << 20}\r\n\r\n"
    answer = raw_request(url, request.encode())
    assert answer.split(b" ")[1] == b"413"
    assert response_headers(answer)["x-request-id"] == "too-big-1"
    assert len(upstream.seen) == before
