from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from training.data import MnistUnavailable, mnist_checksums, mnist_ensure


class Command(BaseCommand):
    help = "Fetch the four MNIST IDX files into MNIST_DIR and verify their SHA-256."

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None, help="Target folder (default: MNIST_DIR).")

    def handle(self, *args, dir=None, **options):
        directory = dir or Path(settings.MNIST_DIR)
        try:
            mnist_ensure(directory)
        except MnistUnavailable as exc:
            raise CommandError(str(exc)) from exc
        for name, digest in mnist_checksums(directory).items():
            self.stdout.write(f"{name}  sha256 {digest}  ok")
        self.stdout.write(f"MNIST is ready in {directory}")
