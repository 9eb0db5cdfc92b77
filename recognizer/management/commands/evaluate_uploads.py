import importlib
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recognizer.evaluation import evaluate_directory, format_table, missed_targets
from recognizer.serving import served_model
from vision.decode import decode_image
from vision.infer import DigitClassifier, decide, model_file_temperature


def number_reader(classifier):
    """vision.segment's read_number bound to this classifier, as evaluate_directory takes it;
    None where the number reader is not installed."""
    try:
        segment = importlib.import_module("vision.segment")
    except ModuleNotFoundError:
        return None

    def read(data: bytes) -> tuple[str | None, str | None]:
        reading = segment.read_number(decode_image(data), classifier)
        return reading.text, reading.reason

    return read


class Command(BaseCommand):
    help = "Score the whole recognition path on a folder of labelled uploads (labels.csv: file,label,scenario)."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--labels", type=Path, help="Labels CSV (default: DIRECTORY/labels.csv).")
        parser.add_argument("--model", type=Path, help="A .tflite file (default: the active model version).")
        parser.add_argument(
            "--temperature",
            type=float,
            help="Calibration T (default: the version's; with --model, its metrics.json's; 1 = uncalibrated).",
        )
        parser.add_argument("--json", type=Path, help="Also write the numbers and every item's outcome here.")
        parser.add_argument("--errors", action="store_true", help="List the images that were not read right.")

    def handle(self, *args, directory: Path, labels=None, model=None, errors=False, **options):
        json_path = options["json"]
        labels = labels or directory / "labels.csv"
        if not labels.is_file():
            raise CommandError(f"no labels file at {labels}")
        temperature = options["temperature"]
        if model is not None:
            if temperature is None:
                temperature = model_file_temperature(model)
            classifier, name = DigitClassifier(model, temperature=temperature), str(model)
        else:
            served = served_model()
            classifier, name = served.classifier, served.version.version
            if temperature is not None:
                classifier = DigitClassifier(
                    served.version.tflite_path,
                    temperature=temperature,
                    field_calibration=served.version.field_calibration,
                )
        name += f" (T = {classifier.temperature:.3f}"
        field = classifier.field_calibration
        if field and "t_field" in field:
            name += f"; T {field['t_field']:.3f} for inputs that look like the field"
        name += ")"
        read_number = number_reader(classifier)
        result = evaluate_directory(
            directory,
            labels,
            classifier.classify,
            decide=lambda row: decide(row).digit,
            read_number=read_number,
            batch_size=256,
        )
        self.stdout.write(f"model {name} on {directory}\n")
        self.stdout.write(format_table(result))
        if errors:
            for item in result["items"]:
                label, predicted = item.get("text", item["label"]), item.get("predicted_text", item["predicted"])
                if predicted != label:
                    self.stdout.write(
                        f"{item['file']} {item['scenario']}: label {label} -> {predicted}"
                        + (f" ({item['reason']})" if item["reason"] else "")
                    )
        if result["calibration"]:
            c = result["calibration"]
            self.stdout.write(
                f"\ncalibration: ECE {c['ece']:.4f} over {c['images']} images "
                f"(mean confidence {c['mean_confidence']:.1%}, top choice right {c['top_accuracy']:.1%})"
            )
        if read_number is None and result["overall"]["n_numbers"]:
            self.stdout.write("\nnumbers not scored: no number reader (vision/segment.py) in this build")
        missed = missed_targets(result)
        self.stdout.write("\ntargets: " + ("all met" if not missed else "; ".join(missed)))
        if json_path is not None:
            json_path.write_text(json.dumps(result, indent=2))
