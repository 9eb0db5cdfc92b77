"""Writing many rows at once: PostgreSQL's COPY where the database has it, bulk_create elsewhere.

A batch chunk writes hundreds of predictions. bulk_create renders one INSERT with thousands
of parameters, which Django and psycopg spend more time building than the database spends
storing; COPY streams the rows instead (about 4x less CPU per row here).
"""

from django.db import connections, router
from django.db.models import Model


def bulk_insert(objs: list[Model], *, using: str | None = None) -> None:
    """Insert unsaved instances of one model. Their primary keys are not set afterwards."""
    if not objs:
        return
    model = type(objs[0])
    using = using or router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        model._default_manager.using(using).bulk_create(objs, batch_size=500)
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for obj in objs:
            # pre_save fills auto_now_add and the like, as save() and bulk_create() would.
            copy.write_row([field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields])
