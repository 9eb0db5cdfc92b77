"""The bucket as Django's default storage: django-storages' S3Storage, with small files sent
in one PutObject call and without waiting for a "100 Continue".

S3Storage uploads every file through boto3's transfer manager (made for multipart uploads
of large files: a manager, futures, maybe threads per file), which costs about 25 ms of CPU
for an upload of a few kilobytes here, against about 6 ms for a plain PutObject: that is
most of what object storage adds to a POST /api/predict. Large files keep the transfer
manager (multipart, retries per part).

botocore also sends every PutObject with ``Expect: 100-continue``: it sends the headers,
waits for the server's interim answer, then the body. For a body of a few kilobytes that is
one more round trip per upload for nothing (the body costs less to send than the wait),
which a sync gunicorn worker spends idle: against moto's server here it took a PutObject of
600 bytes from 8.7 to 4.1 ms of wall time, and the client's CPU from 1.7 to 1.5 ms
(bench/predict_load.py, README "Scaling out"). Bodies up to SINGLE_PUT_MAX_BYTES go without
it; larger ones keep it (a refused upload is not sent in full).

Imported only when STORAGE_BUCKET is set, so that a process without a bucket never loads boto3.
"""

import os

from botocore.utils import determine_content_length
from storages.backends.s3 import S3Storage
from storages.utils import clean_name, is_seekable

SINGLE_PUT_MAX_BYTES = 8 * 1024 * 1024


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
        self.connection.meta.client.put_object(Bucket=self.bucket_name, Key=key, Body=body, **params)
        return cleaned_name
