"""gunicorn's master imports the application and the image and model code before it forks
(mnistsite.prefork), but never loads the model, keeps a database connection or starts a
thread there: what a forked worker would inherit and share."""

import atexit
import logging
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from bench.footprint import children
from mnistsite.prefork import PreforkError, fork_safety_check, worker_exit_now
from tests.conftest import ROOT, free_port, subprocess_env, wait_until
from tests.images import encode, mnist_sample, multipart, render

LITERT_LIBRARY = "_pywrap_litert_interpreter_wrapper"


@pytest.fixture
def threads_of_this_test(monkeypatch):
    """Threads that earlier tests left in this process (tqdm's monitor...) are not this test's."""
    earlier = set(threading.enumerate()) - {threading.main_thread()}
    enumerate_all = threading.enumerate
    monkeypatch.setattr(threading, "enumerate", lambda: [t for t in enumerate_all() if t not in earlier])


def test_the_fork_safety_check_closes_the_database_connection(transactional_db, threads_of_this_test):
    connection.ensure_connection()
    assert connection.connection is not None

    fork_safety_check()

    assert connection.connection is None


def test_the_fork_safety_check_refuses_a_started_thread(threads_of_this_test):
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="stray-thread")
    thread.start()
    try:
        with pytest.raises(PreforkError, match="stray-thread"):
            fork_safety_check()
    finally:
        release.set()
        thread.join()
    fork_safety_check()  # none left: no error


def mapped_files(pid: int) -> set[str]:
    """Paths of the files mapped into a process's memory (shared libraries, mmapped models)."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {line.split(maxsplit=5)[5] for line in lines if len(line.split(maxsplit=5)) == 6}


def database_handles(pid: int) -> list[str]:
    """A process's open handles on the test database: its SQLite file (or journal), or, for
    PostgreSQL, its TCP connections (not listening sockets: any, the broker's included)."""
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.append(str(fd.readlink()))
        except OSError:
            continue  # closed meanwhile
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        return [link for link in links if link.startswith(name)]
    sockets = {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}
    established = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] != "0A" and fields[9] in sockets:  # 0A: LISTEN
                established.append(f"{table} {fields[2]}")
    return established


@pytest.mark.integration
@pytest.mark.slow
def test_the_gunicorn_master_preloads_litert_but_holds_no_model_and_no_database_connection(
    transactional_db, served_default_model, tmp_path
):
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=subprocess_env(CONN_MAX_AGE="600", PREDICT_RATE_LIMIT="off"),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        body, content_type = multipart(encode(render(mnist_sample()[0][0])))

        def predicted():
            if master.poll() is not None:
                return True
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/predict", data=body, headers={"Content-Type": content_type}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                    return response.status == 200
            except OSError:
                return False

        wait_until(predicted, timeout=90, message="a prediction answered")
        assert master.poll() is None, log_path.read_text()[-3000:]
        (worker,) = children(master.pid)

        # The worker that answered maps the model file and holds its database connection...
        worker_files = mapped_files(worker)
        assert any(path.endswith(".tflite") for path in worker_files)
        assert database_handles(worker), "the worker kept no database connection (CONN_MAX_AGE)"
        # ...and the master, which imported the same code before forking it, neither.
        master_files = mapped_files(master.pid)
        assert any(LITERT_LIBRARY in path for path in master_files), "the master did not preload LiteRT"
        assert any("scipy" in path for path in master_files), "the master did not preload scipy"
        assert not [path for path in master_files if path.endswith(".tflite")]
        assert database_handles(master.pid) == []
    finally:
        master.terminate()
        master.wait(timeout=30)


@pytest.mark.integration
@pytest.mark.slow
def test_a_finished_worker_exits_at_once_with_its_logs_flushed_and_status_zero(tmp_path):
    log_path, teardown_path = tmp_path / "worker.log", tmp_path / "teardown-ran"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            handler = logging.StreamHandler(open(log_path, "w", buffering=1 << 20))  # noqa: SIM115
            logger = logging.getLogger("test-worker-exit")
            logger.addHandler(handler)
            logger.warning("last words")
            atexit.register(teardown_path.touch)  # Python's teardown would run this
            worker_exit_now()
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert log_path.read_text() == "last words\n"  # flushed by logging.shutdown
    assert not teardown_path.exists()


@pytest.mark.integration
@pytest.mark.slow
def test_workers_recycled_after_max_requests_keep_answering(transactional_db, served_default_model, tmp_path):
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--max-requests", "3",
             "--max-requests-jitter", "0", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=subprocess_env(PREDICT_RATE_LIMIT="off"), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        body, content_type = multipart(encode(render(mnist_sample()[0][0])))

        def predict() -> int:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/predict", data=body, headers={"Content-Type": content_type}
            )
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                return response.status

        def up():
            try:
                return predict() == 200
            except OSError:
                return master.poll() is not None

        wait_until(up, timeout=90, message="a prediction answered")
        assert [predict() for _ in range(8)] == [200] * 8  # 9 requests: three workers, one after another
    finally:
        master.terminate()
        master.wait(timeout=30)
    output = log_path.read_text()
    assert output.count("Autorestarting worker after current request") == 3, output[-3000:]
    assert "exited with code" not in output and "Exception during worker exit" not in output, output[-3000:]
