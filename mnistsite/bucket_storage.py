"""The bucket as Django's default storage: django-storages' S3Storage, with small files sent
in one PutObject call.

S3Storage uploads every file through boto3's transfer manager (made for multipart uploads
of large files: a manager, futures, maybe threads per file), which costs about 25 ms of CPU
for an upload of a few kilobytes here, against about 6 ms for a plain PutObject: that is
most of what object storage adds to a POST /api/predict. Large files keep the transfer
manager (multipart, retries per part). Imported only when STORAGE_BUCKET is set, so that a
process without a bucket never loads boto3.
"""

import os

from storages.backends.s3 import S3Storage
from storages.utils import clean_name, is_seekable

SINGLE_PUT_MAX_BYTES = 8 * 1024 * 1024


class BucketStorage(S3Storage):
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
