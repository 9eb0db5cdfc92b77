"""Where the web's CPU goes when it stores an upload in the bucket: one small PutObject,
measured in this process (CPU time, process_time, and wall time per upload; the S3 server is
its own process and its CPU is not counted).

    .venv/bin/python bench/bucket_put.py [--s3-server moto|s3rver] [--uploads 300] [--bytes 600]

Each way stores the same bytes under new names, after 30 unmeasured uploads:

- storage: mnistsite's default storage with a bucket (mnistsite.bucket_storage), as a request
  does: SigV4 by hashlib and hmac, one PUT by http.client on a kept-alive connection;
- botocore: a boto3 client with boto3's defaults but checksums only where required
  (Expect: 100-continue, parameter validation) calling put_object;
- signed by hand: the same request signed by botocore's SigV4Auth and sent by urllib3 on a
  kept-alive connection, without botocore's client (events, serializers, endpoint rules,
  parser; what the storage did before, with botocore's HTTP session);
- plain HTTP: urllib3 alone, unsigned (moto accepts it; s3rver refuses it, answering 403,
  which costs about the same): the floor of any HTTP request from Python.

moto's server (Werkzeug) closes the connection after every answer, so each upload to it
opens a new TCP connection; s3rver, MinIO and AWS keep it open.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.predict_load import S3_KEY, s3_server_start  # noqa: E402

BUCKET = "bench-put"


def measure(put, uploads: int, repeats: int = 3) -> dict:
    for i in range(30):
        put(f"warm/{i}")
    cpu, wall = [], []
    for repeat in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(uploads):
            put(f"r{repeat}/{i}")
        cpu.append(1000 * (time.process_time() - c0) / uploads)
        wall.append(1000 * (time.perf_counter() - w0) / uploads)
    return {"cpu_ms": round(statistics.median(cpu), 3), "wall_ms": round(statistics.median(wall), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s3-server", choices=["moto", "s3rver"], default="moto")
    parser.add_argument("--uploads", type=int, default=300, help="Uploads per measured run (median of 3 runs).")
    parser.add_argument("--bytes", type=int, default=600, help="Body size (a 28x28 PNG is about 300-700 bytes).")
    options = parser.parse_args()

    body = os.urandom(options.bytes)
    with tempfile.TemporaryDirectory(prefix="bucket-put-") as tmp:
        server, url = s3_server_start(options.s3_server, Path(tmp) / "s3")
        try:
            os.environ.update(
                DJANGO_SETTINGS_MODULE="mnistsite.settings",
                MEDIA_ROOT=str(Path(tmp) / "media"),
                STORAGE_BUCKET=BUCKET,
                STORAGE_ENDPOINT_URL=url,
                STORAGE_ACCESS_KEY=S3_KEY,
                STORAGE_SECRET_KEY=S3_KEY,
            )
            import boto3
            import django
            import urllib3
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.config import Config
            from botocore.credentials import Credentials

            django.setup()
            from django.core.files.base import ContentFile
            from django.core.files.storage import default_storage

            default_storage.connection.meta.client.create_bucket(Bucket=BUCKET)
            results = {"s3_server": options.s3_server, "bytes": options.bytes, "uploads": options.uploads}

            results["storage"] = measure(
                lambda name: default_storage.save(f"storage/{name}.png", ContentFile(body)), options.uploads
            )
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=S3_KEY,
                aws_secret_access_key=S3_KEY,
                config=Config(
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
            results["botocore"] = measure(
                lambda name: client.put_object(Bucket=BUCKET, Key=f"botocore/{name}.png", Body=body),
                options.uploads,
            )
            signer = SigV4Auth(Credentials(S3_KEY, S3_KEY), "s3", "us-east-1")
            pool = urllib3.PoolManager()

            def signed_put(name: str) -> None:
                request = AWSRequest(method="PUT", url=f"{url}/{BUCKET}/hand/{name}.png", data=body)
                request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
                signer.add_auth(request)
                answer = pool.request("PUT", request.url, body=body, headers=dict(request.headers.items()))
                assert answer.status == 200, answer.data[:300]

            results["signed_by_hand"] = measure(signed_put, options.uploads)
            results["plain_http"] = measure(
                lambda name: pool.request("PUT", f"{url}/{BUCKET}/plain/{name}.png", body=body), options.uploads
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    results["load_average_1_5_15_min"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
