"""Migration steps for an index made redundant by a composite index that starts with its column.

The index is dropped where it is (DROP INDEX) rather than through AlterField(db_index=False): on
SQLite AlterField rebuilds the table, and a rebuilt table loses its triggers (billing's usage records
are numbered by one)."""


def drop_single_column_index(table: str, column: str):
    """A RunPython step dropping the plain index on ``table``'s ``column`` alone, if there is one."""

    def drop(apps, schema_editor):
        connection = schema_editor.connection
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, table)
        for name, details in constraints.items():
            plain = details["index"] and not (details["primary_key"] or details["unique"])
            if plain and details["columns"] == [column]:
                schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")

    return drop


def create_field_index(app_label: str, model_name: str, field_name: str):
    """The step back: the field's index as Django names it."""

    def create(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        field = model._meta.get_field(field_name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))

    return create
