"""Who a client is: X-Forwarded-For counts only as far as NUM_PROXIES trusts it, and the
throttle counters are shared by every worker (the default cache is a database table)."""

import uuid
from http.client import HTTPConnection
from urllib.parse import urlparse

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from rest_framework.throttling import ScopedRateThrottle

from mnistsite.client_identity import client_ip
from tests.images import digit_png

RATE = "5/min"
ALLOWED = 5


@pytest.fixture
def predict_rate(monkeypatch):
    """PREDICT_RATE_LIMIT=5/min in this process (DRF reads the rates once, at import)."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"predict": RATE})
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def num_proxies(settings):
    def set_to(count: int) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return set_to


def post_digit(client, **headers):
    return client.post("/api/predict", {"file": SimpleUploadedFile("d.png", digit_png(0)[0])}, headers=headers)


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, None, "10.0.0.9"),
        (0, "203.0.113.5", "10.0.0.9"),
        (0, "1.2.3.4, 203.0.113.5", "10.0.0.9"),
        (1, None, "10.0.0.9"),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "1.2.3.4, 203.0.113.5", "203.0.113.5"),
        (1, "1.2.3.4,203.0.113.5 ", "203.0.113.5"),
        (2, "1.2.3.4, 203.0.113.5, 10.0.0.1", "203.0.113.5"),
        (2, "203.0.113.5", "203.0.113.5"),
    ],
)
def test_client_address_follows_num_proxies(num_proxies, proxies, forwarded_for, expected):
    num_proxies(proxies)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", headers=headers)
    assert client_ip(request) == expected


@pytest.mark.django_db
def test_spoofed_forwarded_for_headers_do_not_escape_the_predict_rate(
    client, served_default_model, predict_rate, num_proxies
):
    num_proxies(0)
    statuses = [post_digit(client, x_forwarded_for=f"198.51.100.{n}").status_code for n in range(20)]
    assert statuses == [200] * ALLOWED + [429] * (20 - ALLOWED)
    refused = post_digit(client, x_forwarded_for="198.51.100.99")
    assert refused["Content-Type"] == "application/json"
    assert "throttled" in refused.json()["error"].lower()


@pytest.mark.django_db
def test_behind_one_proxy_the_client_is_the_address_that_proxy_appended(
    client, served_default_model, predict_rate, num_proxies
):
    num_proxies(1)
    # What the client wrote comes first; the proxy appends the address it saw.
    statuses = [post_digit(client, x_forwarded_for=f"198.51.100.{n}, 203.0.113.7").status_code for n in range(8)]
    assert statuses == [200] * ALLOWED + [429] * 3
    assert post_digit(client, x_forwarded_for="198.51.100.1, 203.0.113.8").status_code == 200


@pytest.mark.integration
@pytest.mark.slow
def test_the_predict_rate_holds_across_four_gunicorn_workers(transactional_db, monkeypatch, request):
    """30 requests from one client, each with a new X-Forwarded-For, spread over the 4
    workers (each holds one open connection when a round starts): exactly 5 are answered."""
    monkeypatch.setenv("PREDICT_RATE_LIMIT", RATE)
    monkeypatch.delenv("NUM_PROXIES", raising=False)
    url = request.getfixturevalue("gunicorn_server")  # after the variables: it passes os.environ on
    cache.clear()  # the test database's cache table, which the workers share with this process
    address = urlparse(url)
    png = digit_png(0)[0]
    statuses = []
    for first in range(0, 30, 4):
        # One connection per worker: a sync worker that accepted one blocks on it, so the
        # next goes to another. Requests are then sent one at a time: no race between them.
        connections = [
            HTTPConnection(address.hostname, address.port, timeout=60) for _ in range(first, min(first + 4, 30))
        ]
        for connection in connections:
            connection.connect()
        for n, connection in enumerate(connections, start=first):
            boundary = uuid.uuid4().hex
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d{n}.png"\r\n'
                    "Content-Type: image/png\r\n\r\n"
                ).encode()
                + png
                + f"\r\n--{boundary}--\r\n".encode()
            )
            connection.request(
                "POST",
                "/api/predict",
                body=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Forwarded-For": f"10.1.{n}.1"},
            )
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            connection.close()
    assert statuses.count(200) == ALLOWED, statuses
    assert statuses.count(429) == 30 - ALLOWED, statuses
