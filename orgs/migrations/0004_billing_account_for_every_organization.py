"""Every organization has its billing account from creation (orgs.services); this gives one, on the
default plan, to each organization made before that, so that staff can credit any of them in admin."""

from django.db import migrations

BATCH_SIZE = 1000


def open_missing_billing_accounts(apps, schema_editor):
    Organization = apps.get_model("orgs", "Organization")
    BillingAccount = apps.get_model("billing", "BillingAccount")
    Plan = apps.get_model("billing", "Plan")
    default_plan = Plan.objects.filter(is_default=True).first()
    if default_plan is None:  # no plans yet means a new database, with no organizations either
        return
    # ignore_conflicts: during a rolling deploy the running code may open an account meanwhile.
    missing = Organization.objects.filter(billing__isnull=True).order_by("pk").values_list("pk", flat=True)
    batch = []
    for organization_id in missing.iterator(chunk_size=BATCH_SIZE):
        batch.append(BillingAccount(organization_id=organization_id, plan=default_plan))
        if len(batch) == BATCH_SIZE:
            BillingAccount.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    BillingAccount.objects.bulk_create(batch, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("orgs", "0003_alter_invitation_status"),
        ("billing", "0007_ledger_payments_index"),
    ]

    operations = [migrations.RunPython(open_missing_billing_accounts, migrations.RunPython.noop)]
