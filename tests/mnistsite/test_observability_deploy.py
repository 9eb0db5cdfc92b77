"""The Prometheus service of docker-compose.yml, its scrape configuration, and the Grafana
dashboard: every query names a metric that the site exports."""

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT
from tests.mnistsite.metrics_helpers import Scrape

SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def dashboard() -> dict:
    return json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())


@pytest.mark.django_db
def test_every_dashboard_query_names_a_metric_the_site_exports(client):
    families = Scrape(client.get("/metrics").content.decode()).families
    exported = {name + suffix for name in families for suffix in SUFFIXES}
    queries = [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
    named = {name for query in queries for name in re.findall(r"\bmnistsite_[a-z_]+", query)}
    assert named and named <= exported, named - exported


def test_the_dashboard_has_the_main_panels():
    titles = " / ".join(panel["title"] for panel in dashboard()["panels"]).lower()
    for words in ("requests per second", "latency", "predictions", "batch throughput", "queue depth", "training"):
        assert words in titles, words
    assert all(panel["datasource"]["uid"] == "${DS_PROMETHEUS}" for panel in dashboard()["panels"])


def test_prometheus_scrapes_web_and_workers_with_the_token_that_compose_writes():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["web"]["dns_sd_configs"] == [{"names": ["web"], "type": "A", "port": 8000}]
    assert jobs["workers"]["dns_sd_configs"] == [{"names": ["worker", "trainer"], "type": "A", "port": 9808}]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = " ".join(compose["services"]["prometheus"]["command"])
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics"
        assert job["authorization"]["type"] == "Bearer"
        assert f"> {job['authorization']['credentials_file']}" in command


@pytest.mark.integration
@pytest.mark.slow
def test_compose_runs_prometheus_and_hands_the_token_to_web_workers_and_prometheus():
    assert shutil.which("docker-compose"), "docker-compose (Debian package) is needed to validate the compose file"
    token = "t" * 32
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "SECRET_KEY": "k" * 50, "METRICS_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    assert prometheus["environment"]["METRICS_TOKEN"] == token
    assert any(volume.endswith(":/etc/prometheus/prometheus.yml:ro") for volume in prometheus["volumes"])
    assert "ports" not in prometheus
    for name in ("web", "worker", "trainer"):
        assert services[name]["environment"]["METRICS_TOKEN"] == token
    for name in ("worker", "trainer"):
        assert services[name]["environment"]["CELERY_METRICS_PORT"] == "9808"
