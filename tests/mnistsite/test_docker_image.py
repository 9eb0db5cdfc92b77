"""The image serves its pages: the Dockerfile's own collectstatic step, run as written, then
a real gunicorn under production settings (whitenoise's manifest storage) answers 200."""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, subprocess_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAGES = ["/", "/history", "/models", "/admin/login/", "/api/docs/", "/accounts/login/"]
STATIC_REFERENCE = re.compile(r"""(?:href|src)=["'](/static/[^"'?#]+)""")


def dockerfile_instructions(target: str = "web") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the stages that build `target` (its stage and the stages it
    is FROM), continuation lines joined, comments dropped."""
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}  # name -> (parent, instructions)
    current: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit between continuation lines too
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            words = arguments.split()
            current = []
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else f"stage{len(stages)}"
            stages[name] = (words[0], current)
        current.append((keyword.upper(), arguments.strip()))
    assert target in stages, f"no stage {target!r} in the Dockerfile: {sorted(stages)}"
    chain: list[tuple[str, str]] = []
    while target in stages:
        parent, instructions = stages[target]
        chain = instructions + chain
        target = parent
    return chain


def dockerfile_env(target: str = "web", base: dict[str, str] | None = None) -> dict[str, str]:
    """What the target's ENV lines set (both the `key=value ...` and the `key value` forms), with
    `$NAME` expanded from `base` and the lines before, as Docker does."""
    env = dict(base or {})

    def expand(value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda match: env.get(match.group(1), ""), value)

    for keyword, arguments in dockerfile_instructions(target):
        if keyword != "ENV":
            continue
        words = shlex.split(arguments)
        if "=" in words[0]:
            env.update((key, expand(value)) for key, value in (word.split("=", 1) for word in words))
        else:
            env[words[0]] = expand(" ".join(words[1:]))
    return env


def dockerfile_collectstatic_command() -> str:
    """The shell command of the one RUN step of the web image that runs collectstatic, inline
    variables included."""
    commands = [
        command.strip()
        for keyword, arguments in dockerfile_instructions("web")
        if keyword == "RUN"
        for command in arguments.split("&&")
        if "manage.py collectstatic" in command
    ]
    assert len(commands) == 1, f"expected one collectstatic step in the Dockerfile, found {commands}"
    return commands[0]


def collect_static_as_the_dockerfile_does(static_root: Path) -> None:
    """Run the build step in a build's environment: the ENV lines, no runtime settings."""
    build_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # `python` is this venv's
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    env = {
        **dockerfile_env("web", base=build_env),
        "STATIC_ROOT": str(static_root),  # the image's /app/staticfiles, here a temporary folder
    }
    result = subprocess.run(
        ["sh", "-c", dockerfile_collectstatic_command()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def get(url: str) -> tuple[int, str, dict]:
    """One request, redirects not followed: (status, body, headers)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, response.read().decode(errors="replace"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace"), dict(error.headers)


@pytest.fixture
def production_server(transactional_db, served_default_model, tmp_path):
    """The Dockerfile's collectstatic into a temporary STATIC_ROOT, then gunicorn as the image
    runs it (production settings) on the test database; yields (base URL, STATIC_ROOT)."""
    static_root = tmp_path / "staticfiles"
    static_root.mkdir()
    collect_static_as_the_dockerfile_does(static_root)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = subprocess_env(
        DJANGO_ENV="production",
        SECRET_KEY="test-image-Zq7vN2kR9xW4mP8sT3yB6hJ1cF5gL0dA",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        STATIC_ROOT=str(static_root),
        CONN_MAX_AGE="0",
    )
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "mnistsite.wsgi:application", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return get(f"{url}/api/health")[0] in (200, 503) or server.poll() is not None
        except OSError:
            return server.poll() is not None

    try:
        wait_until(up, timeout=60, message="gunicorn up")
        assert server.poll() is None, log_path.read_text()[-3000:]
        yield url, static_root, log_path
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_images_collectstatic_and_production_settings_serve_every_page_and_its_static_files(production_server):
    url, static_root, log_path = production_server
    assert (static_root / "staticfiles.json").is_file(), "the Dockerfile's collectstatic wrote no manifest"

    bodies = {}
    for page in PAGES:
        status, body, _ = get(url + page)
        assert status == 200, f"{page} answered {status}:\n{log_path.read_text()[-3000:]}"
        bodies[page] = body
    # A page that needs a login sends the visitor to the login page, which answers too.
    status, _, headers = get(f"{url}/batches/new")
    assert status == 302, status
    assert headers["Location"].startswith("/accounts/login/"), headers["Location"]
    status, bodies["/batches/new"], _ = get(url + headers["Location"])
    assert status == 200, status

    # Every static file a page links answers through whitenoise, under its hashed name.
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    referenced = {path for body in bodies.values() for path in STATIC_REFERENCE.findall(body)}
    assert f"/static/{manifest['favicon.svg']}" in referenced
    assert f"/static/{manifest['css/site.css']}" in referenced
    assert manifest["css/site.css"] != "css/site.css"  # hashed: served with a far-future cache
    for path in sorted(referenced):
        status, _, headers = get(url + path)
        assert status == 200, f"{path} answered {status}"
        assert "max-age" in headers.get("Cache-Control", ""), path
