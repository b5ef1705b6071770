"""The organization's own index on the request log goes: requestlog_org_time starts with the
organization, so it serves its lookups and its foreign key (dropped in place, see core.indexes)."""

import django.db.models.deletion
from django.db import migrations, models

from core.indexes import create_field_index, drop_single_column_index


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0002_request_log_and_reservations"),
        ("orgs", "0003_alter_invitation_status"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="requestlog",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="orgs.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(
                    drop_single_column_index("gateway_requestlog", "organization_id"),
                    create_field_index("gateway", "RequestLog", "organization"),
                ),
            ],
        ),
    ]
