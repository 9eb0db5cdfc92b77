import shlex
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from mnistsite.health import BrokerUnavailable
from training import services
from training.models import TrainingJob


class Command(BaseCommand):
    help = "Train the CNN: queue a job on the Celery worker (default), follow it with --wait, or --sync in-process."

    def add_arguments(self, parser):
        parser.add_argument("--preset", default="quick", help="quick (~2 min, >=0.99) or final (<=30 min, >=0.997).")
        parser.add_argument("--epochs", type=int, help="Epochs (default: the preset's).")
        parser.add_argument("--batch-size", type=int, help="Batch size (default: the preset's).")
        parser.add_argument(
            "--seed", type=int, default=42, help="Random seed for data order, augmentation and weights."
        )
        parser.add_argument("--architecture", help="Network to build (default: the preset's).")
        parser.add_argument(
            "--activate",
            choices=["auto", "force", "never"],
            default="auto",
            help="auto: activate only if it beats the active version on the test set.",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--wait", action="store_true", help="Follow the queued job with a progress bar until it ends."
        )
        mode.add_argument("--sync", action="store_true", help="Train in this process, without a worker.")

    def handle(self, *args, **options):
        from training.train import PRESETS

        if options["preset"] not in PRESETS:
            raise CommandError(f"unknown preset {options['preset']!r}; choose from {', '.join(PRESETS)}")
        try:
            job = services.training_job_create(
                preset=options["preset"],
                epochs=options["epochs"],
                batch_size=options["batch_size"],
                seed=options["seed"],
                architecture=options["architecture"],
                activate=options["activate"],
                command="python manage.py " + shlex.join(sys.argv[1:]),
                queue=not options["sync"],
            )
        except BrokerUnavailable as exc:
            raise CommandError(f"{exc}; start Redis, or train in this process with --sync") from exc
        self.stdout.write(f"training job {job.pk} " + ("running in this process" if options["sync"] else "queued"))
        if options["sync"]:
            try:
                job = services.training_job_run(job_id=job.pk, worker="sync")
            except Exception as exc:
                raise CommandError(f"training job {job.pk} failed: {exc}") from exc
            self._summary(job)
        elif options["wait"]:
            self._follow(job.pk)

    def _follow(self, job_id: int) -> None:
        bar = None
        while True:
            services.training_jobs_reap()
            job = TrainingJob.objects.get(pk=job_id)
            if job.epochs and bar is None:
                bar = tqdm(total=job.epochs, unit="epoch", desc=f"job {job.pk}")
            if bar is not None:
                bar.update(job.epoch - bar.n)
                if job.accuracy is not None:
                    bar.set_postfix(loss=f"{job.loss:.4f}", acc=f"{job.accuracy:.4f}")
            if job.is_finished:
                break
            time.sleep(1.0)
        if bar is not None:
            bar.close()
        self._summary(job)
        if job.status == TrainingJob.Status.FAILED:
            raise CommandError(f"training job {job.pk} failed: {job.error}")

    def _summary(self, job: TrainingJob) -> None:
        self.stdout.write(job.log_tail.strip().splitlines()[-1] if job.log_tail else "")
        version = job.model_versions.first()
        if version is not None:
            state = "active" if version.is_active else "not active"
            self.stdout.write(
                f"job {job.pk} {job.status}: model {version.version}, test accuracy {version.accuracy:.4f} ({state})"
            )
        else:
            self.stdout.write(f"job {job.pk} {job.status}")
