from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mnistsite.objectstore import ObjectStorageError
from training.data import MnistUnavailable, load_mnist
from training.eda import eda_report_write
from training.services import eda_report_store


class Command(BaseCommand):
    help = "Exploratory data analysis of MNIST: PNG figures and eda.json (default: ARTIFACTS_DIR/eda)."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=None, help="Output folder (default: ARTIFACTS_DIR/eda).")

    def handle(self, *args, out=None, **options):
        out_dir = out or Path(settings.ARTIFACTS_DIR) / "eda"
        try:
            x_train, y_train, x_test, y_test = load_mnist(settings.MNIST_DIR)
        except MnistUnavailable as exc:
            raise CommandError(str(exc)) from exc
        summary = eda_report_write(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, out_dir=out_dir)
        for name in [*summary["figures"], "eda.json"]:
            self.stdout.write(str(out_dir / name))
        try:
            prefix = eda_report_store(directory=out_dir)
        except ObjectStorageError as exc:
            raise CommandError(f"the report is in {out_dir} but not in the object storage: {exc}") from exc
        if prefix:
            self.stdout.write(f"stored in the object storage under {prefix}/")
        counts = summary["class_counts"]
        self.stdout.write(f"train per class: {counts['train']}")
        self.stdout.write(f"test per class:  {counts['test']}")
