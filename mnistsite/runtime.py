"""Which database and broker this process uses, decided once from the environment.

Kept free of Django so that settings, `make run` and the tests can all ask it.
"""

import socket
import sqlite3
from pathlib import Path
from urllib.parse import urlparse

from kombu.transport import TRANSPORT_ALIASES

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


EMBEDDED_SCHEME = "embedded+sqlite://"
# kombu finds the embedded broker's transport by this alias (a URL's part before "+").
TRANSPORT_ALIASES.setdefault("embedded", "mnistsite.embedded_broker:Transport")


def embedded_broker_url() -> str:
    """A kombu transport that needs no server: SQLAlchemy on a SQLite file under var/."""
    VAR_DIR.mkdir(exist_ok=True)
    return f"{EMBEDDED_SCHEME}/{VAR_DIR / 'celery-broker.sqlite3'}"


def is_embedded(url: str) -> bool:
    return url.startswith(EMBEDDED_SCHEME)


def embedded_broker_prepare(url: str) -> None:
    """Put the broker's SQLite file in WAL mode (it stays so): the web publishing and the
    workers polling then do not block each other's reads."""
    path = Path(url.removeprefix(EMBEDDED_SCHEME + "/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("PRAGMA journal_mode=WAL")


def broker_url_choose(configured: str | None, *, fallback: bool) -> tuple[str, bool]:
    """Return (broker URL, is_embedded): Redis when it answers, else the embedded broker.

    A non-Redis URL is used as is, and so is Redis when fallback is off (production):
    there a dead broker must show up in /api/health, not be papered over.
    """
    url = configured or DEFAULT_REDIS_URL
    if not fallback or not url.startswith(("redis://", "rediss://")):
        return url, is_embedded(url)
    if tcp_reachable(url, default_port=6379):
        return url, False
    return embedded_broker_url(), True


def broker_transport_options(url: str, *, visibility_timeout: int) -> dict:
    """Options for the transport `url` names; each transport refuses the others' options
    (kombu hands the SQLAlchemy transport's options to create_engine)."""
    if is_embedded(url):
        return {}  # mnistsite.embedded_broker sets its own
    if url.startswith(("redis://", "rediss://", "sentinel://")):
        # Unacknowledged messages of a killed worker come back after this many seconds.
        return {"visibility_timeout": visibility_timeout}
    return {}


def object_storage_backend(
    *,
    bucket: str,
    endpoint_url: str | None,
    region: str,
    access_key: str | None,
    secret_key: str | None,
    prefix: str = "",
    addressing_style: str = "path",
) -> dict:
    """The STORAGES entry of an S3-compatible bucket (django-storages with boto3: mnistsite.bucket_storage)."""
    from botocore.config import Config

    return {
        "BACKEND": "mnistsite.bucket_storage.BucketStorage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,  # none: AWS itself
            "region_name": region,
            # None: boto3's own chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, a role).
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            "location": prefix,
            "file_overwrite": True,  # names are random or versioned: never a silent rename
            "default_acl": None,
            "client_config": Config(
                # MinIO and most S3-compatible servers want bucket/key paths, not bucket subdomains.
                s3={"addressing_style": addressing_style},
                signature_version="s3v4",
                # Checksums only where S3 requires them: several S3-compatible servers refuse the
                # CRC32 trailers boto3 sends by default since 1.36, and they cost CPU on every upload.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                # The parameters are this code's own, not a client's: botocore need not check
                # their types against the API model on every call.
                parameter_validation=False,
            ),
        },
    }
