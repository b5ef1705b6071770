"""The usage roll-up moves from marking each record (``rollup_batch``) to a watermark over a number the
database gives every record as it is inserted (``seq``; see billing.rollup).

In order: add ``seq`` and number the existing records in ``created_at`` order (the one time records
are updated); roll up what the old scheme had not rolled up yet; start RollupState's watermark at the
highest number, since everything up to it is now in DailyUsage; drop ``rollup_batch`` and its indexes;
then the triggers that number new records, last, because on SQLite an operation that rebuilds the
table would drop them. On PostgreSQL the migration is one transaction that holds the table's lock
from the first step, so no record is inserted half-way.
"""

from django.db import migrations, models
from django.utils import timezone


def number_existing_records(apps, schema_editor):
    schema_editor.execute(
        "UPDATE billing_usagerecord SET seq = ordered.position"
        " FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS position"
        "       FROM billing_usagerecord) AS ordered"
        " WHERE ordered.id = billing_usagerecord.id"
    )


def roll_up_the_rest(apps, schema_editor):
    schema_editor.execute(
        "INSERT INTO billing_dailyusage AS daily (organization_id, api_key_id, day, tier, model,"
        "  requests, prompt_tokens, completion_tokens, cost_usd)"
        " SELECT organization_id, api_key_id, day, tier, model,"
        "  count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost_usd)"
        " FROM billing_usagerecord WHERE rollup_batch IS NULL"
        " GROUP BY organization_id, api_key_id, day, tier, model"
        " ON CONFLICT (organization_id, api_key_id, day, tier, model) DO UPDATE SET"
        "  requests = daily.requests + excluded.requests,"
        "  prompt_tokens = daily.prompt_tokens + excluded.prompt_tokens,"
        "  completion_tokens = daily.completion_tokens + excluded.completion_tokens,"
        "  cost_usd = daily.cost_usd + excluded.cost_usd"
    )
    schema_editor.execute(
        "INSERT INTO billing_rollupstate (id, watermark, rolled_up_at)"
        " SELECT 1, coalesce(max(seq), 0), %s FROM billing_usagerecord",
        [timezone.now()],
    )


def mark_rolled_up_records(apps, schema_editor):
    """Backwards: what the watermark covers counts as rolled up under the old scheme."""
    schema_editor.execute(
        "UPDATE billing_usagerecord SET rollup_batch = 'rb_watermark'"
        " WHERE seq <= (SELECT watermark FROM billing_rollupstate WHERE id = 1)"
    )
    schema_editor.execute("DELETE FROM billing_rollupstate")


POSTGRESQL_NUMBERING = [
    "CREATE SEQUENCE billing_usagerecord_seq AS bigint OWNED BY billing_usagerecord.seq",
    "SELECT setval('billing_usagerecord_seq', coalesce(max(seq), 0) + 1, false) FROM billing_usagerecord",
    """
    CREATE FUNCTION billing_usagerecord_number() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.seq := nextval('billing_usagerecord_seq');
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER billing_usagerecord_number BEFORE INSERT ON billing_usagerecord"
    " FOR EACH ROW EXECUTE FUNCTION billing_usagerecord_number()",
]
POSTGRESQL_NUMBERING_REVERSE = [
    "DROP TRIGGER billing_usagerecord_number ON billing_usagerecord",
    "DROP FUNCTION billing_usagerecord_number()",
    "DROP SEQUENCE billing_usagerecord_seq",
]
# One writer at a time, rows never deleted: a new rowid is above every committed one (and above the
# numbers given to the existing records, which are at most their count).
SQLITE_NUMBERING = [
    """
    CREATE TRIGGER billing_usagerecord_number AFTER INSERT ON billing_usagerecord
    BEGIN
        UPDATE billing_usagerecord SET seq = NEW.rowid WHERE rowid = NEW.rowid;
    END
    """
]
SQLITE_NUMBERING_REVERSE = ["DROP TRIGGER billing_usagerecord_number"]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    for statement in statements[schema_editor.connection.vendor]:
        schema_editor.execute(statement)


def number_new_records(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_NUMBERING, "sqlite": SQLITE_NUMBERING})


def stop_numbering_new_records(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_NUMBERING_REVERSE, "sqlite": SQLITE_NUMBERING_REVERSE})


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_refunds_by_payment_intent"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagerecord",
            name="seq",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.RunPython(number_existing_records, migrations.RunPython.noop),
        migrations.CreateModel(
            name="RollupState",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(
                        default=1, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("watermark", models.BigIntegerField(default=0)),
                (
                    "rolled_up_at",
                    models.DateTimeField(blank=True, help_text="When the watermark last moved.", null=True),
                ),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="one_rollup_state")
                ],
            },
        ),
        migrations.RunPython(roll_up_the_rest, mark_rolled_up_records),
        migrations.RemoveIndex(model_name="usagerecord", name="usage_not_rolled"),
        migrations.RemoveIndex(model_name="usagerecord", name="usage_rollup_batch"),
        migrations.RemoveField(model_name="usagerecord", name="rollup_batch"),
        migrations.AddIndex(
            model_name="usagerecord",
            index=models.Index(fields=["seq"], name="usage_seq"),
        ),
        migrations.RunPython(number_new_records, stop_numbering_new_records),
    ]
