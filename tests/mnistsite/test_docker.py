import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def compose_config() -> dict:
    assert shutil.which("docker-compose"), "docker-compose (Debian package) is needed to validate the compose file"
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "SECRET_KEY": "k" * 50},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import yaml

    return yaml.safe_load(result.stdout)


def test_compose_file_is_accepted_and_has_the_services_with_healthchecks():
    config = compose_config()
    assert {"web", "worker", "trainer", "redis", "db"} <= set(config["services"])
    for name in ("web", "worker", "trainer", "redis", "db"):
        assert "healthcheck" in config["services"][name], name
    assert {"media", "models"} <= set(config["volumes"])
    web_env = config["services"]["web"]["environment"]
    assert web_env["DJANGO_ENV"] == "production"
    assert web_env["CELERY_BROKER_URL"].startswith("redis://redis")
    # The web is unhealthy only when it cannot serve predictions (/api/health answers 503),
    # not when the broker is down (200 "degraded"); workers answer a ping through the broker.
    assert "http://127.0.0.1:8000/api/health" in config["services"]["web"]["healthcheck"]["test"]
    for worker in ("worker", "trainer"):
        assert "inspect ping" in " ".join(config["services"][worker]["healthcheck"]["test"])
    json.dumps(config)  # plain data, nothing unresolved


def test_compose_refuses_to_start_without_a_secret_key():
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
