"""Drops the "_like" indexes Django made beside the console's indexed text columns on PostgreSQL; the
console's backend (core/postgresql) makes no more of them. Nothing to undo: they served no query."""

from django.db import migrations

CONSOLE_APPS = {
    "accounts", "alerts", "apikeys", "billing", "conversations", "core", "feedback", "gateway", "orgs"
}


def drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    models = apps.get_models(include_auto_created=True)  # with the many-to-many tables
    tables = [model._meta.db_table for model in models if model._meta.app_label in CONSOLE_APPS]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(%s)"
            " AND indexname LIKE %s AND indexdef LIKE %s",
            [tables, r"%\_like", "%\\_pattern\\_ops%"],
        )
        for (name,) in cursor.fetchall():
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("alerts", "0001_initial"),
        ("apikeys", "0003_spend_in_micro_dollars"),
        ("billing", "0005_organization_indexed_by_its_composites"),
        ("conversations", "0001_initial"),
        ("core", "0003_idempotency_scope"),
        ("feedback", "0001_initial"),
        ("gateway", "0003_organization_indexed_by_its_composite"),
        ("orgs", "0003_alter_invitation_status"),
    ]

    operations = [migrations.RunPython(drop_like_indexes, migrations.RunPython.noop)]
