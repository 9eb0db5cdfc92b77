"""The bucket as Django's default storage: django-storages' S3Storage, with a small file sent
as one signed PUT.

What storing an upload in the bucket costs a request is mostly what the client does, and a
sync gunicorn worker waits for it (bench/bucket_put.py measures each way below; README
"Scaling out"):

- S3Storage sends every file through boto3's transfer manager (made for multipart uploads of
  large files: a manager, futures, maybe threads per file): about 25 ms of CPU for a few
  kilobytes;
- botocore's put_object: about 1.6 ms of CPU (its events, serializer, endpoint rules,
  parser), and with the ``Expect: 100-continue`` it sends on every PutObject one more round
  trip before the body (to moto's server, a 600-byte upload took 8.7 ms instead of 4.1);
- one PUT signed by botocore's S3 SigV4 signer and sent by botocore's HTTP session (urllib3):
  about 0.9 ms;
- one PUT signed here (SigV4 with hashlib and hmac, the day's signing key kept) and sent by
  http.client on a kept-alive connection: about 0.35 ms, what a request pays now.

So a file up to SINGLE_PUT_MAX_BYTES goes as that one PUT when the bucket is addressed by
path (MinIO and most servers; compose's default) and no proxy is configured. Anything but a
200 (an error answer, a refused or dropped connection, credentials that cannot be had) sends
it again through put_object, whose retries, proxies and errors are the ones every other call
of this storage gets; a kept-alive connection the server has closed meanwhile is first
replaced by a new one, once. Larger files keep the transfer manager (multipart, retries per
part); a virtual-hosted bucket keeps put_object (without the Expect header for a small body).

Imported only when STORAGE_BUCKET is set, so that a process without a bucket never loads boto3.
"""

import datetime
import functools
import hashlib
import hmac
import http.client
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from botocore.httpsession import get_cert_path
from botocore.utils import determine_content_length, get_environ_proxies
from storages.backends.s3 import S3Storage
from storages.utils import clean_name, is_seekable

logger = logging.getLogger(__name__)

SINGLE_PUT_MAX_BYTES = 8 * 1024 * 1024
SIGNED_PUT_HEADERS = {"ContentType": "Content-Type", "ContentEncoding": "Content-Encoding"}


def small_body_without_expect(request, **kwargs) -> None:
    """botocore's before-sign hook: no ``Expect: 100-continue`` for a small body."""
    if "Expect" not in request.headers:
        return
    size = determine_content_length(request.body)
    if size is not None and size <= SINGLE_PUT_MAX_BYTES:
        del request.headers["Expect"]


class BucketStorage(S3Storage):
    @property
    def connection(self):
        known = getattr(self._connections, "connection", None)
        connection = super().connection
        if connection is not known:  # a new client (one per thread): hook it once
            connection.meta.client.meta.events.register(
                "before-sign.s3.PutObject", small_body_without_expect, unique_id="mnistsite-small-body-without-expect"
            )
        return connection

    def _save(self, name, content):
        size = getattr(content, "size", None)
        if self.gzip or size is None or size > SINGLE_PUT_MAX_BYTES:
            return super()._save(name, content)
        cleaned_name = clean_name(name)
        key = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(key, content)
        if is_seekable(content):
            content.seek(0, os.SEEK_SET)
        body = content.read()
        if isinstance(body, str):
            body = body.encode()
        if not self._signed_put(key=key, body=body, params=params):
            self.connection.meta.client.put_object(Bucket=self.bucket_name, Key=key, Body=body, **params)
        return cleaned_name

    def _signed_put(self, *, key: str, body: bytes, params: dict) -> bool:
        """PUT `body` as `key` in one signed request; whether the bucket answered 200. False
        without trying when the request is not one this can send (virtual-hosted addressing,
        a proxy, parameters other than the content type and encoding)."""
        client = self.connection.meta.client
        if (client.meta.config.s3 or {}).get("addressing_style") != "path" or set(params) - set(SIGNED_PUT_HEADERS):
            return False
        state = self._connections
        if getattr(state, "credentials", None) is None:
            endpoint = urlsplit(client.meta.endpoint_url)
            if client.meta.config.proxies or get_environ_proxies(client.meta.endpoint_url):
                return False  # put_object goes through the proxy
            state.credentials = self._create_session().get_credentials()  # boto3's chain, as the client's
            if state.credentials is None:
                return False
            state.put_target = PutTarget(
                scheme=endpoint.scheme,
                host=endpoint.hostname,
                port=endpoint.port,
                host_header=host_header(endpoint),
                path_prefix=endpoint.path.rstrip("/"),
                verify=self.verify,
                connect_timeout=client.meta.config.connect_timeout,
                read_timeout=client.meta.config.read_timeout,
            )
            state.put_connection = None
        target = state.put_target
        path = f"{target.path_prefix}/{quote(self.bucket_name)}/{quote(key, safe='/~')}"
        headers = {header: params[param] for param, header in SIGNED_PUT_HEADERS.items() if param in params}
        try:
            # Frozen: a role's credentials, refreshed when they expire, are read as one set.
            headers = sigv4_headers(
                method="PUT",
                host=target.host_header,
                path=path,
                headers=headers,
                body=body,
                region=client.meta.region_name,
                credentials=state.credentials.get_frozen_credentials(),
                now=datetime.datetime.now(datetime.UTC),
            )
        except Exception as exc:  # noqa: BLE001 - put_object tries again and raises what it meets
            logger.warning("signed PUT of %s not signed (%s: %s); trying put_object", key, type(exc).__name__, exc)
            return False
        headers["Content-Length"] = str(len(body))
        while True:
            connection, state.put_connection = state.put_connection, None
            kept = connection is not None
            try:
                if connection is None:
                    connection = put_connection_open(target)
                connection.request("PUT", path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
            except Exception as exc:  # noqa: BLE001 - put_object tries again and raises what it meets
                if connection is not None:
                    connection.close()
                if kept:
                    continue  # the server closed the kept-alive connection meanwhile: once on a new one
                logger.warning("signed PUT of %s failed (%s: %s); trying put_object", key, type(exc).__name__, exc)
                return False
            if answer.will_close:  # moto's server closes after every answer; S3, MinIO and s3rver keep it
                connection.close()
            else:
                state.put_connection = connection
            if answer.status != 200:
                logger.warning("signed PUT of %s answered %s; trying put_object", key, answer.status)
                return False
            return True


@dataclass(frozen=True)
class PutTarget:
    """Where the signed PUTs of one thread go, read once from the client's configuration."""

    scheme: str
    host: str
    port: int | None
    host_header: str
    path_prefix: str
    verify: bool | str | None
    connect_timeout: float
    read_timeout: float


def host_header(endpoint) -> str:
    """The Host header as SigV4 signs it: lower case, no user info, no default port."""
    host = endpoint.hostname
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if endpoint.port is not None and endpoint.port != {"http": 80, "https": 443}.get(endpoint.scheme):
        host = f"{host}:{endpoint.port}"
    return host


def put_connection_open(target: PutTarget) -> http.client.HTTPConnection:
    """A connection to the bucket's server, kept alive between PUTs, with TCP_NODELAY (without
    it a kept-alive connection waits for Nagle and a delayed ACK: about 40 ms an upload to
    s3rver, which keeps connections open as MinIO and AWS do). TLS verified as botocore
    verifies it: its CA bundle, or the one `verify` names, or none with verify=False."""
    if target.scheme == "https":
        if target.verify is False:
            context = ssl._create_unverified_context()  # noqa: S323 - verify=False asked for it
        else:
            context = ssl.create_default_context(cafile=get_cert_path(True if target.verify is None else target.verify))
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=target.connect_timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=target.connect_timeout)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection.sock.settimeout(target.read_timeout)
    return connection


@functools.lru_cache(maxsize=16)
def sigv4_signing_key(secret_key: str, day: str, region: str) -> bytes:
    """SigV4's key of one day and region: four HMACs, the same all day."""
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sigv4_headers(
    *, method: str, host: str, path: str, headers: dict, body: bytes, region: str, credentials, now
) -> dict[str, str]:
    """`headers` with the Host, X-Amz-* and Authorization headers of an S3 request signed with
    AWS Signature Version 4 (a header signature, the body's SHA-256 signed), as botocore's
    S3SigV4Auth signs it: `path` already quoted, no query string."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload = hashlib.sha256(body).hexdigest()
    signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    signed.update({"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz_date})
    if credentials.token:
        signed["x-amz-security-token"] = credentials.token
    names = sorted(signed)
    canonical = "\n".join(
        [method, path, "", *(f"{name}:{signed[name]}" for name in names), "", ";".join(names), payload]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(sigv4_signing_key(credentials.secret_key, day, region), to_sign.encode(), hashlib.sha256)
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature.hexdigest()}"
    )
    return signed
