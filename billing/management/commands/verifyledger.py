from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db.models import OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from billing.models import BillingAccount, LedgerEntry
from core.fields import MicroDollarField


class Command(BaseCommand):
    help = "Proves every organization's cached balance equals the sum of its ledger; exits 1 if one does not."

    def handle(self, *args, **options):
        sums = (
            LedgerEntry.objects.filter(organization=OuterRef("organization"))
            .order_by()
            .values("organization")
            .annotate(total=Sum("amount_usd"))
            .values("total")
        )
        total = Coalesce(Subquery(sums), Value(Decimal(0)), output_field=MicroDollarField())
        accounts = BillingAccount.objects.annotate(ledger_total=total).select_related("organization")
        mismatches = 0
        for account in accounts.iterator():
            if account.balance_usd != account.ledger_total:
                mismatches += 1
                self.stderr.write(
                    f"{account.organization_id} {account.organization.name}: balance {account.balance_usd} "
                    f"but the ledger sums to {account.ledger_total}"
                )
        orphaned = (
            LedgerEntry.objects.exclude(organization__billing__isnull=False).values("organization").distinct()
        )
        for row in orphaned:
            mismatches += 1
            self.stderr.write(f"{row['organization']}: ledger entries but no billing account")
        if mismatches:
            self.stderr.write(f"{mismatches} organization(s) do not add up.")
            raise SystemExit(1)
        self.stdout.write(f"All {accounts.count()} balances equal their ledgers.")
