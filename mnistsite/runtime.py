"""Which database and broker this process uses, decided once from the environment.

Kept free of Django so that settings, `make run` and the tests can all ask it.
"""

import socket
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def tcp_reachable(url: str, *, default_port: int, timeout: float = 0.3) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout):
            return True
    except OSError:
        return False


def embedded_broker_url() -> str:
    """A kombu transport that needs no server: SQLAlchemy on a SQLite file under var/."""
    VAR_DIR.mkdir(exist_ok=True)
    return f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"


def broker_url_choose(configured: str | None, *, fallback: bool) -> tuple[str, bool]:
    """Return (broker URL, is_embedded): Redis when it answers, else the embedded broker.

    A non-Redis URL is used as is, and so is Redis when fallback is off (production):
    there a dead broker must show up in /api/health, not be papered over.
    """
    url = configured or DEFAULT_REDIS_URL
    if not fallback or not url.startswith(("redis://", "rediss://")):
        return url, False
    if tcp_reachable(url, default_port=6379):
        return url, False
    return embedded_broker_url(), True
