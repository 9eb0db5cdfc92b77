"""The table of the default cache (throttle counters) when no CACHE_URL is set.

Created whatever the cache in use, so that dropping CACHE_URL later needs no extra step;
`migrate` is all that `make setup` and the test database run.
"""

from django.core.management import call_command
from django.db import migrations

CACHE_TABLE = "mnistsite_cache"


def cache_table_create(apps, schema_editor):
    call_command("createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0)


def cache_table_drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("mnistsite", "0002_worker_broker"),
    ]

    operations = [
        migrations.RunPython(cache_table_create, cache_table_drop),
    ]
