from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training.services import (
    ActivationRefused,
    model_version_activate,
    model_version_ensure_default,
    model_version_register,
)


class Command(BaseCommand):
    help = "Register a trained model folder as a version; --default registers the shipped model if none is active."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", type=Path, help="Folder with model.tflite and metrics.json.")
        parser.add_argument(
            "--default", action="store_true", help="Register and activate models/default if no version is active."
        )
        parser.add_argument("--name", help="Version name (default: from metrics.json or the folder name).")
        parser.add_argument("--activate", choices=["auto", "force", "never"], default="auto")

    def handle(self, *args, directory=None, default=False, name=None, activate="auto", **options):
        if default:
            active = model_version_ensure_default()
            if active is None:
                self.stderr.write("No model is shipped in models/default yet: train one with `manage.py train_model`.")
            else:
                self.stdout.write(f"model:    {active.version} (test accuracy {active.accuracy:.4f}) is active")
            return
        if directory is None:
            raise CommandError("give a model folder or --default")
        model_version = model_version_register(directory=directory, version=name)
        self.stdout.write(f"registered {model_version.version} ({model_version.accuracy:.4f})")
        if activate != "never":
            try:
                model_version_activate(version=model_version, force=activate == "force")
                self.stdout.write(f"activated {model_version.version}")
            except ActivationRefused as exc:
                self.stdout.write(f"not activated: {exc}")
