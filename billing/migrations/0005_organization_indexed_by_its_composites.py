"""The organization's own index on the ledger and the usage records goes: ledger_org_time and
usage_org_time start with the organization, so they serve its lookups and its foreign key
(dropped in place, see core.indexes)."""

import django.db.models.deletion
from django.db import migrations, models

from core.indexes import create_field_index, drop_single_column_index


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_usage_rollup_by_sequence"),
        ("orgs", "0003_alter_invitation_status"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger",
                        to="orgs.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="usagerecord",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="usage",
                        to="orgs.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(
                    drop_single_column_index("billing_ledgerentry", "organization_id"),
                    create_field_index("billing", "LedgerEntry", "organization"),
                ),
                migrations.RunPython(
                    drop_single_column_index("billing_usagerecord", "organization_id"),
                    create_field_index("billing", "UsageRecord", "organization"),
                ),
            ],
        ),
    ]
