from django.db import migrations

import core.fields


class Migration(migrations.Migration):
    """The month-to-date spend becomes integer micro-dollars (summed exactly on every database).
    Nothing has been spent before this migration, so the counter starts again at zero."""

    dependencies = [("apikeys", "0002_key_lifecycle")]

    operations = [
        migrations.RemoveField(model_name="apikey", name="spend_month_to_date_usd"),
        migrations.AddField(
            model_name="apikey",
            name="spend_month_to_date_usd",
            field=core.fields.MicroDollarField(default=0, editable=False, verbose_name="month-to-date spend (USD)"),
        ),
    ]
