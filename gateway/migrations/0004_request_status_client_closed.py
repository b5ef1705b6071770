"""A request log's status can say ``client_closed``: the client went away before its answer was
ready, the request was cancelled and nothing was charged (choices only: no change to the table)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0003_organization_indexed_by_its_composite"),
    ]

    operations = [
        migrations.AlterField(
            model_name="requestlog",
            name="status",
            field=models.CharField(
                choices=[
                    ("completed", "Completed"),
                    ("incomplete", "Ended early"),
                    ("failed", "Failed"),
                    ("refused", "Refused"),
                    ("client_closed", "Client closed"),
                ],
                max_length=16,
            ),
        ),
    ]
