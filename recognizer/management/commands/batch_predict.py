"""python manage.py batch_predict PATH [--mode digit|number] [--wait] [--json] [--sync]"""

import json
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mnistsite.health import BrokerUnavailable, safe_broker_url
from mnistsite.objectstore import ObjectStorageError
from mnistsite.workers import workers_alive
from recognizer import batch
from recognizer.batch_sources import BatchSourceError
from recognizer.models import BatchJob, Kind


class Command(BaseCommand):
    help = (
        "Recognise every image in PATH: a folder (read in place), a zip archive, or an IDX images file "
        "(its labels file beside it is used when present). Images in folders named 0-9 count as labelled. "
        "--mode number reads a number per image; labels from a labels.csv (file,label) or folders named "
        "with digits, accuracy as exact-string match."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="A folder, a .zip, or an IDX images file (e.g. t10k-images-idx3-ubyte).")
        parser.add_argument("--wait", action="store_true", help="Show progress until the job ends, then a summary.")
        parser.add_argument("--json", action="store_true", help="End with one JSON object (the last line).")
        parser.add_argument(
            "--sync", action="store_true", help="Process the job in this process instead of on a worker."
        )
        parser.add_argument(
            "--mode",
            choices=[k.value for k in Kind],
            default=Kind.DIGIT.value,
            help="digit: one digit per image (default); number: a number of several digits per image.",
        )
        parser.add_argument("--owner", default=None, help="Username that owns the job (default: none).")
        parser.add_argument("--poll", type=float, default=0.5, help="Seconds between progress checks (--wait).")

    def handle(self, *args, **options):
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"no user named {options['owner']!r}")
        try:
            job = batch.batch_job_create(
                path=options["path"], owner=owner, queue=not options["sync"], mode=options["mode"]
            )
        except (BatchSourceError, BrokerUnavailable, ObjectStorageError) as exc:
            raise CommandError(str(exc)) from exc
        wait = options["wait"] or options["sync"]
        if not wait:
            self.stdout.write(json.dumps(self.summary(job)) if options["json"] else str(job.pk))
            return
        self.stderr.write(f"batch job {job.pk}: {job.total} items from {job.source}")
        if not options["sync"] and not job.finished_state and not workers_alive(broker=safe_broker_url()).exists():
            elsewhere = sorted(set(workers_alive().values_list("broker", flat=True)))
            self.stderr.write(
                f"no Celery worker takes tasks from {safe_broker_url()}: the job waits in the queue until one starts "
                "(`make run` starts one; --sync runs the job in this process)"
                + (
                    f"; workers run with another broker: {', '.join(elsewhere)} (set CELERY_BROKER_URL)"
                    if elsewhere
                    else ""
                )
            )
        job = self.follow(job, sync=options["sync"], poll=options["poll"])
        self.stderr.write(
            f"job {job.pk} {job.status}: {job.done - job.failed_items} recognised, {job.failed_items} not readable"
            + (f", {job.images_per_second:.0f} images/s" if job.images_per_second else "")
            + (f", accuracy {job.accuracy:.4f}" if job.accuracy is not None else "")
            + (f"; error: {job.error}" if job.error else "")
        )
        if options["json"]:
            self.stdout.write(json.dumps(self.summary(job)))
        else:
            self.stdout.write(str(job.pk))
        if job.status != BatchJob.Status.SUCCEEDED:
            raise CommandError(f"batch job {job.pk} {job.status}")

    def follow(self, job: BatchJob, *, sync: bool, poll: float) -> BatchJob:
        from tqdm import tqdm

        with tqdm(total=job.total, unit="img", file=self.stderr._out, disable=not job.total) as bar:

            def show(current: BatchJob) -> None:
                bar.update(current.done - bar.n)

            if sync:
                job = batch.batch_job_run_sync(job_id=job.pk, progress=show)
            while not job.finished_state:
                time.sleep(poll)
                job.refresh_from_db()
                show(job)
        return job

    @staticmethod
    def summary(job: BatchJob) -> dict:
        return {
            "id": job.pk,
            "mode": job.mode,
            "status": job.status,
            "total": job.total,
            "succeeded": job.done - job.failed_items,
            "failed": job.failed_items,
            "images_per_second": job.images_per_second,
            "accuracy": job.accuracy,
        }
