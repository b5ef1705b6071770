"""An index of each organization's payments (every ledger entry but usage), newest first, for the
Billing page: without it, listing a few payments walks past every usage debit since the last one.

Partial, so recording usage never writes to it. On PostgreSQL it is built CONCURRENTLY, outside a
transaction, so the ledger keeps taking usage debits while a large one is indexed. A concurrent build
that fails leaves an invalid index behind: the next run drops it first, so running again works."""

from django.db import migrations, models

INDEX = models.Index(
    condition=~models.Q(kind="usage"),
    fields=["organization", "-created_at", "-id"],
    name="ledger_payments_org_time",
)


def create_index(apps, schema_editor):
    model = apps.get_model("billing", "LedgerEntry")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(INDEX.name)}")
        schema_editor.add_index(model, INDEX, concurrently=True)
    else:
        schema_editor.add_index(model, INDEX)


def drop_index(apps, schema_editor):
    model = apps.get_model("billing", "LedgerEntry")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(model, INDEX, concurrently=True)
    else:
        schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0006_plan_credit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="ledgerentry", index=INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
