import os
import socket
import subprocess
import sys

import pytest

from mnistsite.runtime import broker_url_choose
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def settings_import(**env) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    return subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; settings.INSTALLED_APPS"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "mnistsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "dev-insecure-mnistsite-key-change-me", "ALLOWED_HOSTS": "x"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short", "ALLOWED_HOSTS": "x"}, "SECRET_KEY"),
        ({"SECRET_KEY": "k" * 50}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "x", "DEBUG": "true"}, "DEBUG"),
    ],
)
def test_production_refuses_to_start_without_real_settings(env, message):
    result = settings_import(DJANGO_ENV="production", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_starts_with_real_settings():
    result = settings_import(DJANGO_ENV="production", SECRET_KEY="k" * 50, ALLOWED_HOSTS="example.org")
    assert result.returncode == 0, result.stderr


def test_development_needs_no_settings_at_all():
    result = settings_import()
    assert result.returncode == 0, result.stderr


def test_broker_falls_back_to_embedded_when_redis_does_not_answer():
    url, embedded = broker_url_choose("redis://127.0.0.1:1/0", fallback=True)
    assert embedded
    assert url.startswith("embedded+sqlite:///")


def test_broker_keeps_redis_when_fallback_is_off():
    assert broker_url_choose("redis://127.0.0.1:1/0", fallback=False) == ("redis://127.0.0.1:1/0", False)


def test_broker_uses_redis_when_it_answers():
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        assert broker_url_choose(url, fallback=True) == (url, False)


def test_deploy_checks_pass_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "DJANGO_ENV": "production",
            "SECRET_KEY": "k3#Qv9!tZ2@pL7$wR4^mN8&xB1*cJ6(eH0)gY5-sD2+fA9=uT3",
            "ALLOWED_HOSTS": "digits.example.org",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_start_with_a_broker_that_does_not_answer_stops_with_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "runtime_info", "--check"],
        cwd=ROOT,
        env={**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "CELERY_BROKER_FALLBACK": "false"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: cannot start: broker unavailable at redis://127.0.0.1:1/0: OperationalError: "
        "Error 111 connecting to 127.0.0.1:1. Connection refused."
    ]


def test_a_start_with_no_redis_uses_the_embedded_broker_and_checks_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "runtime_info", "--check"],
        cwd=ROOT,
        env={**os.environ, "CELERY_BROKER_URL": f"embedded+sqlite:///{tmp_path / 'b.sqlite3'}"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "broker:   embedded, no server needed" in result.stdout


@pytest.mark.parametrize(("env", "trusted"), [({}, 0), ({"NUM_PROXIES": "1"}, 1)])
def test_forwarded_headers_are_trusted_from_no_proxy_unless_configured(env, trusted):
    result = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; "
         "print(settings.REST_FRAMEWORK['NUM_PROXIES'])"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DJANGO_SETTINGS_MODULE": "mnistsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(trusted)
