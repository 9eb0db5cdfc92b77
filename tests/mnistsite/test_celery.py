import pytest

from mnistsite.celery import ping

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_task_goes_through_the_broker_to_a_real_worker_and_back(celery_worker_process):
    celery_worker_process(queues="default")
    assert ping.delay().get(timeout=60) == "pong"
