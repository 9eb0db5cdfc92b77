import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from urllib.parse import urlparse

import pytest

from recognizer.models import Prediction
from tests.images import encode, mnist_sample, render

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONCURRENT = 200


def test_200_concurrent_predictions_are_all_answered_and_stored_exactly_once(gunicorn_server):
    images, labels = mnist_sample()
    address = urlparse(gunicorn_server)
    start = threading.Barrier(CONCURRENT)

    def predict(n: int):
        name = f"c{n}-{uuid.uuid4().hex[:8]}.png"
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + encode(render(images[n % len(images)]))
            + f"\r\n--{boundary}--\r\n".encode()
        )
        start.wait(timeout=60)
        conn = HTTPConnection(address.hostname, address.port, timeout=120)
        conn.request(
            "POST", "/api/predict", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        return name, response.status, payload, int(labels[n % len(labels)])

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        results = list(pool.map(predict, range(CONCURRENT)))

    assert [status for _, status, _, _ in results] == [200] * CONCURRENT
    import json

    answers = {name: json.loads(payload) for name, _, payload, _ in results}
    assert len({answer["id"] for answer in answers.values()}) == CONCURRENT
    stored = Prediction.objects.filter(original_name__in=list(answers))
    assert stored.count() == CONCURRENT
    assert sorted(stored.values_list("original_name", flat=True)) == sorted(answers)
    right = sum(answers[name]["prediction"] == label for name, _, _, label in results)
    assert right >= CONCURRENT - 2
