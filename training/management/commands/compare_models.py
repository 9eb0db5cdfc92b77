import shlex
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mnistsite.objectstore import ObjectStorageError
from training.compare import (
    comparison_report_write,
    comparison_run,
    comparison_table,
    model_comparison_record,
    model_specs,
)
from training.data import MnistUnavailable, load_mnist


def command_line(options: dict) -> str:
    """The command as typed when run from manage.py; otherwise (call_command) rebuilt from the options."""
    if sys.argv[1:2] == ["compare_models"]:
        return "python manage.py " + shlex.join(sys.argv[1:])
    args = ["compare_models"]
    for key in ("out", "train_size", "test_size", "epochs", "batch_size", "seed"):
        if options.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(options[key])]
    for name in options.get("model") or []:
        args += ["--model", name]
    if options.get("fast"):
        args.append("--fast")
    return "call_command " + shlex.join(args)


class Command(BaseCommand):
    help = (
        "Train and compare Complex CNN, Simple CNN, MLP, k-NN, Random Forest and SVM on MNIST "
        "(about 15 minutes on 2 CPU cores); write plots and comparison.json, and record a ModelComparison."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=None, help="Output folder (default: ARTIFACTS_DIR/comparison).")
        parser.add_argument(
            "--train-size",
            type=int,
            default=None,
            help="Cap on training images per model (default: all 60,000; the SVM is always capped at 10,000).",
        )
        parser.add_argument("--test-size", type=int, default=None, help="Cap on test images (default: all 10,000).")
        parser.add_argument(
            "--fast",
            action="store_true",
            help="Tiny subsets (600 train / 300 test), 1 epoch, 10 trees: for tests and CI.",
        )
        parser.add_argument("--epochs", type=int, default=None, help="Epochs for every network (default: per model).")
        parser.add_argument("--batch-size", type=int, default=128, help="Batch size for the networks.")
        parser.add_argument("--seed", type=int, default=42, help="Random seed for subsets, weights and forests.")
        parser.add_argument(
            "--model",
            action="append",
            choices=[spec.name for spec in model_specs()],
            help="Only this model (repeatable; default: all six).",
        )

    def handle(self, *args, **options):
        out_dir = options["out"] or Path(settings.ARTIFACTS_DIR) / "comparison"
        command = command_line(options)
        try:
            x_train, y_train, x_test, y_test = load_mnist(settings.MNIST_DIR)
        except MnistUnavailable as exc:
            raise CommandError(str(exc)) from exc
        rows = comparison_run(
            x_train=x_train,
            y_train=y_train,
            x_test=x_test,
            y_test=y_test,
            fast=options["fast"],
            train_size=options["train_size"],
            test_size=options["test_size"],
            epochs=options["epochs"],
            batch_size=options["batch_size"],
            seed=options["seed"],
            only=options["model"],
            log=self.stdout.write,
        )
        comparison_report_write(rows=rows, out_dir=out_dir, command=command)
        try:
            comparison = model_comparison_record(results=rows, report_dir=out_dir, command=command)
        except ObjectStorageError as exc:
            raise CommandError(f"the report is in {out_dir} but not in the object storage: {exc}") from exc
        self.stdout.write(comparison_table(rows))
        prefix = comparison.storage_prefix
        stored = f", stored in the object storage under {prefix}/" if prefix else ""
        self.stdout.write(f"report in {out_dir}{stored}; recorded as model comparison {comparison.pk}")
