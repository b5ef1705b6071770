"""A change of plan credits the unused days of the fee paid for the current plan this month
(billing.services.plan_change_quote), so an account remembers what it paid and from which day, and
the ledger gets a kind for the credit.

Accounts that paid a fee before this migration get both from the ledger: the last plan fee of the
month they paid for, which is the current plan's (a renewal covers the month from the 1st, a plan
change's prorated fee from the day of the change)."""

import datetime
from decimal import Decimal

from django.db import migrations, models


def paid_this_month_from_the_ledger(apps, schema_editor):
    BillingAccount = apps.get_model("billing", "BillingAccount")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    accounts = BillingAccount.objects.filter(plan_paid_month__isnull=False, plan__monthly_fee_usd__gt=0)
    for account in accounts.iterator():
        start = datetime.datetime.combine(account.plan_paid_month, datetime.time(), tzinfo=datetime.UTC)
        end = (start + datetime.timedelta(days=32)).replace(day=1)
        fee = (
            LedgerEntry.objects.filter(
                organization_id=account.organization_id,
                kind="plan_fee",
                created_at__gte=start,
                created_at__lt=end,
            )
            .order_by("-created_at", "-id")
            .first()
        )
        if fee is None:
            continue
        # A renewal's reference is plan:<org>:<YYYY-MM>, a plan change's plan-change:<chg_id>.
        renewal = fee.reference.startswith("plan:")
        paid_from = account.plan_paid_month if renewal else fee.created_at.astimezone(datetime.UTC).date()
        BillingAccount.objects.filter(pk=account.pk).update(plan_paid_usd=-fee.amount_usd, plan_paid_from=paid_from)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_organization_indexed_by_its_composites"),
    ]

    operations = [
        migrations.AddField(
            model_name="billingaccount",
            name="plan_paid_from",
            field=models.DateField(blank=True, null=True, verbose_name="plan fee paid from"),
        ),
        migrations.AddField(
            model_name="billingaccount",
            name="plan_paid_usd",
            field=models.DecimalField(
                decimal_places=2,
                default=Decimal("0"),
                max_digits=12,
                verbose_name="plan fee paid this month (USD)",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="kind",
            field=models.CharField(
                choices=[
                    ("top_up", "Top-up"),
                    ("usage", "Usage"),
                    ("plan_fee", "Plan fee"),
                    ("plan_credit", "Plan credit"),
                    ("refund", "Refund"),
                    ("adjustment", "Adjustment"),
                ],
                max_length=16,
                verbose_name="kind",
            ),
        ),
        migrations.RunPython(paid_this_month_from_the_ledger, migrations.RunPython.noop),
    ]
