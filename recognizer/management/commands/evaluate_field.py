from django.core.management.base import BaseCommand, CommandError

from recognizer.field import TEST, TRAIN, field_scores_update, field_set_labels
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Refit the active model version's (or --all) field calibration on field-train and score it on field-test: "
        "the reviewed predictions' two splits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Score every registered version, not only the active.")

    def handle(self, *args, **options):
        sides = field_set_labels()
        self.stdout.write(f"field set: {len(sides[TRAIN])} field-train, {len(sides[TEST])} field-test")
        if not sides[TEST]:
            raise CommandError("no reviewed predictions in field-test yet: nothing to score")
        versions = list(ModelVersion.objects.all() if options["all"] else ModelVersion.objects.filter(is_active=True))
        if not versions:
            raise CommandError("no model version is registered" if options["all"] else "no version is active")
        field_scores_update(versions=versions)
        for version in versions:
            s = version.field_scores
            self.stdout.write(
                f"{version.version}{' (active)' if version.is_active else ''}: accuracy {pct(s['accuracy'])}, "
                f"digits {pct(s['digit_accuracy'])} of {s['digits']}, false rejections {s['false_rejections']}, "
                f"not-a-digit recall {pct(s['not_a_digit_recall'])} of {s['not_a_digit']}, ECE {num(s['ece'])}"
            )
            c = version.field_calibration or {}
            self.stdout.write(
                f"  field calibration: T {c['t_field']:.3f} for inputs that look like the field "
                f"(others {c['t_general']:.3f}), fitted on {c['fit_size']} reviews it never trained on"
                if "t_field" in c
                else f"  field calibration: none ({c.get('reason', 'no field-train reviews')})"
            )
            for source, row in s["by_source"].items():
                self.stdout.write(
                    f"  {source}: {row['n']} reviewed, accuracy {pct(row['accuracy'])}, "
                    f"false rejections {row['false_rejections']}"
                )


def pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def num(value) -> str:
    return "–" if value is None else f"{value:.4f}"
