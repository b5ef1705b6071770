"""The usage roll-up: raw usage records summed into DailyUsage, incrementally and exactly once.

Each batch claims records that no batch has claimed (skipping rows another worker has locked),
adds their sums to the daily rows with ``UPDATE ... SET x = x + n``, and marks them with its batch
id, all in one transaction. So a second run finds nothing to do, two workers never take the same
record, and a worker killed mid-batch leaves the batch unclaimed for the next run.
"""

from django.db import transaction
from django.db.models import Count, F, Sum, Value

from core.fields import MicroDollarField
from core.ids import new_id

from .models import DailyUsage, UsageRecord

# At most 32,766 ids fit in one SQLite statement.
BATCH_SIZE = 20_000
GROUP_FIELDS = ("organization_id", "api_key_id", "day", "tier", "model")


def usage_rollup(*, batch_size: int = BATCH_SIZE) -> int:
    """Rolls up every record not rolled up yet; returns how many it rolled up."""
    total = 0
    while True:
        rolled = _rollup_batch(batch_size)
        total += rolled
        if rolled < batch_size:
            return total


@transaction.atomic
def _rollup_batch(batch_size: int) -> int:
    batch = new_id("rb")
    # The ids first (an index range scan on the not-rolled-up rows), then an update by primary key:
    # an UPDATE ... WHERE pk IN (subquery) is planned as a join over the whole table.
    unclaimed = list(
        UsageRecord.objects.filter(rollup_batch__isnull=True)
        .order_by("created_at")
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)[:batch_size]
    )
    claimed = (
        UsageRecord.objects.filter(pk__in=unclaimed, rollup_batch__isnull=True).update(rollup_batch=batch)
        if unclaimed
        else 0
    )
    if not claimed:
        return 0
    sums = (
        UsageRecord.objects.filter(rollup_batch=batch)
        .values(*GROUP_FIELDS)
        .annotate(
            n=Count("pk"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost=Sum("cost_usd"),
        )
        .order_by(*GROUP_FIELDS)  # one order for every worker, so two never wait on each other's rows
    )
    for group in sums:
        key = {field: group[field] for field in GROUP_FIELDS}
        DailyUsage.objects.bulk_create([DailyUsage(**key)], ignore_conflicts=True)
        DailyUsage.objects.filter(**key).update(
            requests=F("requests") + group["n"],
            prompt_tokens=F("prompt_tokens") + group["prompt"],
            completion_tokens=F("completion_tokens") + group["completion"],
            cost_usd=F("cost_usd") + Value(group["cost"], output_field=MicroDollarField()),
        )
    return claimed
