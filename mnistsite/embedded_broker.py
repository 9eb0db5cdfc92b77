"""The embedded broker: kombu's SQLAlchemy transport on a SQLite file, made fit for use.

URL: ``embedded+sqlite:///path/to/broker.sqlite3`` (registered as a kombu transport alias
in mnistsite.runtime). Three changes to the transport it builds on:
- its engine gets only engine options (kombu passes every transport option to
  create_engine, which refuses ``polling_interval`` and ``visibility_timeout``), with a
  30 s wait for the file's write lock;
- a message whose INSERT fails raises, where kombu's transport drops it silently;
- an acknowledged or restored message's row is deleted, where kombu's keeps it for ever.
A message received by a worker that is then SIGKILLed stays invisible; the work it stood
for is sent again by the workers' sweeps (mnistsite.workers, recognizer.batch).
"""

from kombu.transport import sqlalchemy as kombu_sqlalchemy
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from sqlalchemy import create_engine

ENGINE_OPTIONS = {"connect_args": {"timeout": 30}}
DRAIN_SECONDS = 0.25


class Channel(kombu_sqlalchemy.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rows: dict[str, int] = {}  # delivery tag -> message row, for the ack

    def _engine_from_config(self):
        return create_engine(self.connection.client.hostname, **ENGINE_OPTIONS)

    def _put(self, queue, payload, **kwargs):
        obj = self._get_or_create(queue)
        self.session.add(self.message_cls(kombu_sqlalchemy.dumps(payload), obj))
        try:
            self.session.commit()
        except Exception:
            self.session.rollback()
            raise

    def _get(self, queue):
        obj = self._get_or_create(queue)
        self.session.execute(kombu_sqlalchemy.text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            message = (
                self.session.query(self.message_cls)
                .filter(self.message_cls.queue_id == obj.id, self.message_cls.visible != False)  # noqa: E712
                .order_by(self.message_cls.sent_at, self.message_cls.id)
                .first()
            )
            if message is None:
                raise kombu_sqlalchemy.Empty()
            message.visible = False
            payload = loads(bytes_to_str(message.payload))
            row = message.id
            self.session.commit()
        except BaseException:
            # A COMMIT that fails (the file locked past the timeout) leaves the session
            # "prepared": without the rollback every later poll raises and the worker stops
            # (seen with SQLAlchemy 2.1 under load). Empty ends the transaction the same way.
            self.session.rollback()
            raise
        self._rows[payload["properties"]["delivery_tag"]] = row
        return payload

    def _row_delete(self, delivery_tag) -> None:
        row = self._rows.pop(delivery_tag, None)
        if row is not None:
            self.session.query(self.message_cls).filter(self.message_cls.id == row).delete()
            self.session.commit()

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple)
        self._row_delete(delivery_tag)

    def _restore(self, message):
        super()._restore(message)  # a new row: the message goes back to its queue
        self._row_delete(message.delivery_tag)


class Transport(kombu_sqlalchemy.Transport):
    Channel = Channel
    polling_interval = 0.25  # seconds between polls of an empty queue

    def drain_events(self, connection, timeout=None):
        # Celery's loop for transports like this one acknowledges finished tasks, and so
        # frees their prefetch slots, only between two calls, which it makes with a 2 s
        # timeout: a worker would take new tasks once every 2 s. Return sooner.
        return super().drain_events(connection, timeout=min(timeout or DRAIN_SECONDS, DRAIN_SECONDS))
