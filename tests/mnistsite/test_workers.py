"""Workers beat in the database; the liveness rules the sweeps rely on."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mnistsite import workers
from mnistsite.models import Worker

pytestmark = pytest.mark.django_db


def test_a_beating_worker_is_alive_and_a_silent_one_is_not(settings):
    settings.WORKER_STALE_SECONDS = 30
    workers.worker_beat(hostname="a@h", pid=1, started=timezone.now())
    assert workers.worker_is_alive("a@h")
    Worker.objects.filter(hostname="a@h").update(last_seen=timezone.now() - timedelta(seconds=31))
    assert not workers.worker_is_alive("a@h")
    workers.worker_beat(hostname="a@h", pid=1)
    assert workers.worker_is_alive("a@h")


def test_a_worker_started_after_a_claim_does_not_hold_it():
    claimed = timezone.now()
    workers.worker_beat(hostname="b@h", pid=2, started=claimed + timedelta(seconds=1))
    assert workers.worker_is_alive("b@h")
    assert not workers.worker_is_alive("b@h", since=claimed)
    assert not workers.worker_is_alive("", since=claimed)
    assert not workers.worker_is_alive("nobody@h")


def test_a_clean_stop_removes_the_row_and_only_its_own():
    workers.worker_beat(hostname="c@h", pid=3, started=timezone.now())
    workers.worker_forget(hostname="c@h", pid=99)  # another process of that name
    assert Worker.objects.filter(hostname="c@h").exists()
    workers.worker_forget(hostname="c@h", pid=3)
    assert not Worker.objects.filter(hostname="c@h").exists()


def test_the_heartbeat_thread_beats_runs_the_sweeps_and_leaves(settings, transactional_db):
    swept = []
    settings.WORKER_BEAT_SECONDS = 0.05
    settings.WORKER_SWEEPS = ["tests.mnistsite.test_workers.sweep_record", "tests.mnistsite.test_workers.sweep_fail"]
    SWEPT.clear()
    thread = workers.HeartbeatThread(hostname="d@h", queues="default")
    thread.start()
    try:
        from tests.conftest import wait_until

        wait_until(lambda: len(SWEPT) >= 2, timeout=10, message="two sweeps")
        swept = list(SWEPT)
        assert workers.worker_is_alive("d@h")
    finally:
        thread.stop()
    assert swept, "a failing sweep does not stop the others"
    assert not Worker.objects.filter(hostname="d@h").exists()


SWEPT: list[int] = []


def sweep_record() -> None:
    SWEPT.append(1)


def sweep_fail() -> None:
    raise RuntimeError("a broken sweep")
