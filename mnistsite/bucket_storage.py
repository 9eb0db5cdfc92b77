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
- one PUT signed by botocore's own S3 SigV4 signer and sent on a kept-alive connection of
  botocore's own HTTP session (its TLS verification, proxies and timeouts): about 0.9 ms.

So a file up to SINGLE_PUT_MAX_BYTES goes as that one PUT when the bucket is addressed by
path (MinIO and most servers; compose's default). Anything but a 200 (an error answer, a
refused or dropped connection, credentials that cannot be had) sends it again through
put_object, whose retries and errors are the ones every other call of this storage gets.
Larger files keep the transfer manager (multipart, retries per part); a virtual-hosted
bucket keeps put_object (without the Expect header for a small body).

Imported only when STORAGE_BUCKET is set, so that a process without a bucket never loads boto3.
"""

import logging
import os
import socket
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session
from botocore.utils import determine_content_length
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
        parameters other than the content type and encoding)."""
        client = self.connection.meta.client
        if (client.meta.config.s3 or {}).get("addressing_style") != "path" or set(params) - set(SIGNED_PUT_HEADERS):
            return False
        state = self._connections
        if getattr(state, "credentials", None) is None:
            state.credentials = self._create_session().get_credentials()  # boto3's chain, as the client's
            if state.credentials is None:
                return False
            config = client.meta.config
            state.http = URLLib3Session(
                verify=True if self.verify is None else self.verify,
                proxies=config.proxies,
                timeout=(config.connect_timeout, config.read_timeout),
                proxies_config=config.proxies_config,
                # As botocore's own clients: without it, a kept-alive connection waits for
                # Nagle and a delayed ACK (about 40 ms an upload to s3rver, which keeps
                # connections open as MinIO and AWS do).
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
        headers = {header: params[param] for param, header in SIGNED_PUT_HEADERS.items() if param in params}
        url = f"{client.meta.endpoint_url.rstrip('/')}/{quote(self.bucket_name)}/{quote(key, safe='/~')}"
        request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
        try:
            # Frozen: a role's credentials, refreshed when they expire, are read as one set.
            S3SigV4Auth(state.credentials.get_frozen_credentials(), "s3", client.meta.region_name).add_auth(request)
            answer = state.http.send(request.prepare())
        except Exception as exc:  # noqa: BLE001 - put_object tries again and raises what it meets
            logger.warning("signed PUT of %s failed (%s: %s); trying put_object", key, type(exc).__name__, exc)
            return False
        if answer.status_code != 200:
            logger.warning("signed PUT of %s answered %s; trying put_object", key, answer.status_code)
            return False
        return True
