import json
import logging
import shlex
import sys
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from mnistsite.health import BrokerUnavailable
from training import progress as phases
from training import services
from training.models import TrainingJob, duration_text

POLL_SECONDS = 1.0  # the job's row changes at most about once a second


class Command(BaseCommand):
    help = "Train the CNN: queue a job on the Celery worker (default), follow it with --wait, or --sync in-process."

    def add_arguments(self, parser):
        parser.add_argument(
            "--preset",
            default="quick",
            help="quick (~2 min, >=0.99), final (<=30 min, >=0.997) or finetune (from the active version, minutes).",
        )
        parser.add_argument(
            "--with-reviews",
            action="store_true",
            help="Also train on field-train: reviewed predictions' inputs, oversampled ('not a digit' as class 10).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="End with one JSON line: id, status, version, activated, mnist_accuracy, field_accuracy.",
        )
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
            help="auto: the activation gate decides (MNIST within 0.05 points, field-test not lower); force: activate.",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--wait", action="store_true", help="Follow the queued job with a progress bar until it ends."
        )
        mode.add_argument("--sync", action="store_true", help="Train in this process, without a worker.")
        mode.add_argument(
            "--follow", type=int, metavar="JOB", help="Follow an existing job until it ends (start nothing)."
        )

    def handle(self, *args, **options):
        from training.train import PRESETS, training_unavailable

        if options["follow"] is not None:
            if not TrainingJob.objects.filter(pk=options["follow"]).exists():
                raise CommandError(f"no training job {options['follow']}")
            self._follow(options["follow"])
            return
        if options["preset"] not in PRESETS:
            raise CommandError(f"unknown preset {options['preset']!r}; choose from {', '.join(PRESETS)}")
        if options["sync"] and (why_not := training_unavailable()):
            raise CommandError(why_not)  # before a job row is made
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
                with_reviews=options["with_reviews"],
            )
        except BrokerUnavailable as exc:
            raise CommandError(f"{exc}; start Redis, or train in this process with --sync") from exc
        except services.TrainingNotPossible as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"training job {job.pk} " + ("running in this process" if options["sync"] else "queued"))
        if options["sync"]:
            watcher = SyncWatcher(job.pk, JobFollower(self.stdout, self.stderr, queued_note=False))
            watcher.start()
            try:
                job = services.training_job_run(job_id=job.pk, worker="sync")
            except Exception as exc:
                raise CommandError(f"training job {job.pk} failed: {exc}") from exc
            finally:
                watcher.stop()
            self._summary(job)
        elif options["wait"]:
            self._follow(job.pk)
        if options["json"]:
            job.refresh_from_db()
            self.stdout.write(json.dumps(job_outcome(job)))

    def _follow(self, job_id: int) -> None:
        follower = JobFollower(self.stdout, self.stderr)
        while True:
            job = TrainingJob.objects.get(pk=job_id)
            if job.status == TrainingJob.Status.RUNNING and job.heartbeat < timezone.now() - timedelta(
                seconds=settings.TRAINING_HEARTBEAT_STALE_SECONDS
            ):
                # Silent for long: let the reaper judge (it also asks whether the worker lives).
                services.training_jobs_reap()
                job.refresh_from_db()
            follower.show(job)
            if job.is_finished:
                break
            time.sleep(POLL_SECONDS)
        follower.close()
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


def job_outcome(job: TrainingJob) -> dict:
    """The --json line: the job, its version, whether the gate activated it, its scores."""
    version = job.model_versions.first()
    return {
        "id": job.pk,
        "status": job.status,
        "version": version.version if version else None,
        "activated": bool(version and version.is_active),
        "mnist_accuracy": version.accuracy if version else None,
        "field_accuracy": (version.field_scores or {}).get("accuracy") if version else None,
    }


class JobFollower:
    """Prints each phase as a line when it starts, and a bar within it: images made, bytes
    fetched, or batches over all epochs, so that its rate (per batch, not per epoch) and
    the job's own ETA mean something."""

    def __init__(self, stdout, stderr, *, queued_note: bool = True):
        self.stdout, self.stderr, self.queued_note = stdout, stderr, queued_note
        self.phase = self.status = None
        self.bar = None

    def show(self, job: TrainingJob) -> None:
        if job.status == TrainingJob.Status.QUEUED and self.status is None and self.queued_note:
            self.stdout.write(f"job {job.pk} queued: waiting for a worker on the training queue")
        self.status = job.status
        if job.phase and job.phase != self.phase:
            self._bar_close()
            self.phase = job.phase
            message = f" ({job.progress_message})" if job.progress_message and job.phase != phases.TRAINING else ""
            self.stdout.write(f"{job.get_phase_display().lower()}{message}")
        total, done, unit = self._counts(job)
        if total and self.bar is None and not job.is_finished:
            # initial=done: joining halfway does not count what was done before as one burst.
            # The stream under Django's OutputWrapper, which would end every redraw with a newline.
            stream = getattr(self.stderr, "_out", self.stderr)
            self.bar = tqdm(
                total=total,
                initial=done,
                unit=unit,
                desc=f"job {job.pk}",
                file=stream,
                leave=True,
                # tqdm's own time left is left out: the job's ETA (postfix) also counts the
                # checks between epochs, measured by the run itself.
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]",
            )
        if self.bar is not None:
            if self.bar.total != total and total:
                self.bar.total = total
            self.bar.update(max(0, done - self.bar.n))
            self.bar.set_postfix_str(self._postfix(job), refresh=True)

    def _counts(self, job: TrainingJob) -> tuple[int, int, str]:
        if job.phase == phases.TRAINING and job.epochs and job.steps:
            return job.epochs * job.steps, job.epoch * job.steps + job.step, "batch"
        if job.phase == phases.GENERATING:
            return job.steps, job.step, "img"
        if job.phase == phases.FETCHING and job.steps:
            return job.steps, job.step, "B"
        return 0, 0, ""

    def _postfix(self, job: TrainingJob) -> str:
        parts = []
        if job.phase == phases.TRAINING and job.epochs:
            parts.append(f"epoch {min(job.epoch + 1, job.epochs)}/{job.epochs}")
            if job.loss is not None:
                parts.append(f"loss={job.loss:.4f} acc={job.accuracy:.4f}")
        if job.eta_seconds is not None and not job.is_finished:
            parts.append(f"ETA {duration_text(job.eta_seconds)}")
        return ", ".join(parts)

    def _bar_close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._bar_close()


class SyncWatcher(threading.Thread):
    """With --sync, shows the job's progress as --wait does, reading the row from a thread
    while this process trains."""

    def __init__(self, job_id: int, follower: JobFollower):
        super().__init__(name="train-model-watcher", daemon=True)
        self.job_id, self.follower = job_id, follower
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.wait(POLL_SECONDS):
                job = TrainingJob.objects.filter(pk=self.job_id).first()
                if job is not None:
                    self.follower.show(job)
        except Exception:  # only a display: training goes on without it
            logging.getLogger(__name__).exception("could not show the progress of job %s", self.job_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        self.follower.close()
