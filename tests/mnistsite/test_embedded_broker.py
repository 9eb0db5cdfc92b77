"""The embedded broker (SQLite through kombu): messages arrive once, acked ones leave, none is dropped silently."""

import sqlite3

import pytest
from kombu import Connection, Queue
from sqlalchemy.exc import OperationalError

from mnistsite import embedded_broker
from mnistsite.runtime import broker_transport_options, embedded_broker_prepare


@pytest.fixture
def broker(tmp_path, monkeypatch):
    path = tmp_path / "broker.sqlite3"
    monkeypatch.setattr(embedded_broker.Channel, "_engines", {})  # no engine shared with another test's file
    embedded_broker_prepare(f"embedded+sqlite:///{path}")  # WAL, as settings make it
    with Connection(f"embedded+sqlite:///{path}") as connection:
        yield connection, path


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT visible FROM kombu_message ORDER BY id").fetchall()


def test_a_message_goes_through_and_its_row_leaves_when_acknowledged(broker):
    connection, path = broker
    queue = Queue("jobs")
    with connection.Producer() as producer:
        producer.publish({"n": 1}, routing_key="jobs", declare=[queue], serializer="json")
    assert rows(path) == [(1,)]
    message = connection.SimpleQueue(queue).get(timeout=5)
    assert message.payload == {"n": 1}
    assert rows(path) == [(0,)], "taken: invisible to other workers until acknowledged"
    message.ack()
    assert rows(path) == []


def test_a_rejected_message_comes_back_once(broker):
    connection, path = broker
    queue = connection.SimpleQueue("again")
    queue.put({"n": 2})
    message = queue.get(timeout=5)
    message.requeue()
    assert rows(path) == [(1,)], "back in the queue, and the taken copy is gone"
    assert queue.get(timeout=5).payload == {"n": 2}


def test_a_message_that_cannot_be_written_raises_instead_of_vanishing(broker, monkeypatch):
    connection, path = broker
    queue = connection.SimpleQueue("locked")
    queue.put({"n": 0})  # tables exist
    monkeypatch.setattr(embedded_broker, "ENGINE_OPTIONS", {"connect_args": {"timeout": 0.1}})
    monkeypatch.setattr(embedded_broker.Channel, "_engines", {})
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock for too long
    try:
        with Connection(f"embedded+sqlite:///{path}") as other, pytest.raises(OperationalError):
            other.SimpleQueue("locked").put({"n": 3})
    finally:
        holder.rollback()
        holder.close()


def test_the_embedded_broker_gets_no_options_meant_for_redis():
    assert broker_transport_options("embedded+sqlite:////x.sqlite3", visibility_timeout=900) == {}
    assert broker_transport_options("redis://127.0.0.1:6379/0", visibility_timeout=900) == {"visibility_timeout": 900}
