"""python manage.py export_reviews OUT.zip"""

from django.core.management.base import BaseCommand, CommandError

from recognizer.review_export import reviews_export


class Command(BaseCommand):
    help = (
        "Write the reviewed predictions to OUT.zip: their originals in label folders 0-9 and 'none' "
        "(not a digit), and labels.csv (file,label,...). Batch labels are not reviews and are left out."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", help="The zip file to write (replaced once complete).")

    def handle(self, *args, **options):
        try:
            export = reviews_export(path=options["out"])
        except OSError as exc:
            raise CommandError(f"cannot write {options['out']}: {exc}") from exc
        message = f"Wrote {export.written} reviewed image{'s' if export.written != 1 else ''} to {export.path}"
        if export.missing:
            message += f"; {export.missing} left out (no image stored)"
        self.stdout.write(message + ".")
