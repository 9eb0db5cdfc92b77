from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from mnistsite.health import safe_broker_url


class Command(BaseCommand):
    help = "Print which database and Celery broker this configuration uses."

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
            self.stdout.write(f"broker:   embedded, no server needed ({safe_broker_url()}); no Redis answered")
        else:
            self.stdout.write(f"broker:   {safe_broker_url()}")
