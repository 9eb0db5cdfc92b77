from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from kombu.utils.url import maybe_sanitize_url

from mnistsite.health import broker_check, database_check, safe_broker_url
from mnistsite.runtime import DEFAULT_REDIS_URL


class Command(BaseCommand):
    help = "Print which database and Celery broker this configuration uses; with --check, that both answer."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Connect to the database and the broker; fail in one line if not."
        )

    def handle(self, *args, **options):
        db = settings.DATABASES["default"]
        vendor = connection.vendor
        where = (
            db["NAME"]
            if vendor == "sqlite"
            else f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"
        )
        self.stdout.write(f"database: {vendor} ({where})")
        if settings.CELERY_BROKER_EMBEDDED:
            why = ""
            configured = settings.CELERY_BROKER_URL_CONFIGURED
            if configured is None or configured.startswith(("redis://", "rediss://")):
                asked = maybe_sanitize_url(configured or DEFAULT_REDIS_URL)
                why = f"; no Redis answered at {asked}" + ("" if configured else " (the default)")
            self.stdout.write(f"broker:   embedded, no server needed ({safe_broker_url()}){why}")
        else:
            self.stdout.write(f"broker:   {safe_broker_url()}")
        if options["check"]:
            # A worker cannot start without both: say so here, in one line, not in its traceback.
            for error in (database_check(detail=True), broker_check(use_cache=False, detail=True)):
                if error:
                    raise CommandError(f"cannot start: {error}")
