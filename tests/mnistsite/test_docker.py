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
    assert {"nginx", "web", "worker", "trainer", "redis", "db"} <= set(config["services"])
    for name in ("nginx", "web", "worker", "trainer", "redis", "db"):
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


def test_compose_publishes_nginx_only_and_gives_it_the_repositorys_config_and_the_static_files():
    services = compose_config()["services"]
    nginx = services["nginx"]
    assert nginx["image"].startswith("nginx:")
    assert [port["target"] for port in nginx["ports"]] == [80]
    assert any(volume.startswith(f"{ROOT / 'nginx.conf'}:/etc/nginx/nginx.conf") for volume in nginx["volumes"])
    # The folder nginx.conf serves /static/ from, filled by the web's collectstatic.
    assert "static:/app/staticfiles:ro" in nginx["volumes"]
    assert any(volume.startswith("static:/app/staticfiles") for volume in services["web"]["volumes"])
    assert "collectstatic" in services["web"]["command"]
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"
    # Slow clients reach nginx, never a sync worker: gunicorn is not published.
    for name, service in services.items():
        assert name == "nginx" or "ports" not in service, name
    assert services["web"]["expose"] == ["8000"]
    assert services["web"]["environment"]["NUM_PROXIES"] == "1"


def test_compose_gives_the_app_a_minio_bucket_made_before_it_starts():
    services = compose_config()["services"]
    assert services["minio"]["image"].startswith("minio/minio:")
    assert "healthcheck" in services["minio"]
    assert services["bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in services["bucket"]["entrypoint"]
    for name in ("web", "worker", "trainer"):
        env = services[name]["environment"]
        assert (env["STORAGE_BUCKET"], env["STORAGE_ENDPOINT_URL"]) == ("mnistsite", "http://minio:9000"), name
        assert env["STORAGE_SECRET_KEY"] == services["minio"]["environment"]["MINIO_ROOT_PASSWORD"]
        assert services[name]["depends_on"]["bucket"]["condition"] == "service_completed_successfully", name
    assert "ports" not in services["minio"]  # reached inside the compose network only


def test_each_role_gets_its_image_and_the_web_image_installs_the_serving_lock_only():
    from tests.mnistsite.test_docker_image import dockerfile_instructions

    services = compose_config()["services"]
    targets = {name: services[name]["build"]["target"] for name in ("web", "worker", "trainer")}
    assert targets == {"web": "web", "worker": "web", "trainer": "trainer"}
    assert services["web"]["image"] == services["worker"]["image"] != services["trainer"]["image"]

    def installs(target: str) -> list[str]:
        """The pip install commands that build `target`, through the stages it copies from."""
        chain = dockerfile_instructions(target)
        for keyword, arguments in list(chain):
            if keyword == "COPY" and arguments.startswith("--from="):
                chain += dockerfile_instructions(arguments.split()[0].removeprefix("--from="))
        return [arguments for keyword, arguments in chain if keyword == "RUN" and "pip install" in arguments]

    for target, lock in (("web", "requirements-serving.txt"), ("trainer", "requirements.txt")):
        commands = installs(target)
        assert len(commands) == 1, (target, commands)
        assert "--require-hashes" in commands[0] and commands[0].endswith(f"-r /tmp/{lock}"), commands[0]
    # The web's venv: no bytecode from pip, no pip left, bytecode for what serving imports.
    assert "--no-compile" in installs("web")[0]
    web_runs = [arguments for keyword, arguments in dockerfile_instructions("serving-packages") if keyword == "RUN"]
    assert "pip uninstall -y pip setuptools" in web_runs
    assert any("python bin/compile_serving.py" in arguments for keyword, arguments in dockerfile_instructions("web"))
    serving_lock = (ROOT / "requirements-serving.txt").read_text()
    for package in ("tensorflow", "keras", "scikit-learn", "matplotlib", "pytest", "playwright", "flask"):
        assert f"\n{package}==" not in serving_lock, package


def test_the_build_context_leaves_out_tests_tools_and_local_state():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {"tests", "bench", "docs", ".ci", ".git", ".venv", "var", "media/*", "staticfiles"} <= ignored
    # What the running app reads stays in: the shipped model, templates, static files.
    for kept in ("models", "templates", "static", "manage.py", "gunicorn.conf.py", "requirements-serving.txt"):
        assert kept not in ignored and (ROOT / kept).exists(), kept
