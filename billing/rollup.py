"""The usage roll-up: raw usage records summed into DailyUsage, incrementally and exactly once.

The database numbers every usage record as it is inserted (``UsageRecord.seq``: a sequence on
PostgreSQL, the rowid on SQLite), and records never change afterwards. RollupState's watermark says how
far the roll-up has come: every record with ``seq <= watermark`` is in DailyUsage, none above it. So
nothing is written per record; a roll-up reads the new records once and writes one row per group.

A roll-up

1. finds a horizon, a number at or below which no record can appear any more. On PostgreSQL numbers
   are taken in insertion order but committed in any order, so it takes a SHARE lock on the usage
   table for an instant: the lock waits for the transactions that have inserted records to commit
   or roll back (one holds its lock from the insert on) and keeps new inserts out while it reads
   ``max(seq)``. Once it lets go, every number up to the horizon is committed or gone for good, and new
   records get higher ones. Inserts wait while the lock is queued, so it gives up after
   HORIZON_LOCK_TIMEOUT; the next run tries again. SQLite has one writer at a time and new rowids go
   above every committed one, so ``max(seq)`` is the horizon already.
2. then, one batch of numbers at a time, in one transaction each: locks the RollupState row (roll-ups
   take turns; one that waited finds the watermark moved, and stops at its horizon), sums the
   records in (watermark, watermark + batch size] up to the horizon with one SELECT ... GROUP BY,
   adds the sums to DailyUsage with one INSERT ... VALUES ... ON CONFLICT DO UPDATE, and moves the
   watermark. Two statements rather than one INSERT ... SELECT: PostgreSQL runs a plain SELECT's
   scan in parallel but never an INSERT's, which made the single statement twice as slow; the sums
   pass through Python as one tuple per group, not per record.

A worker killed mid-batch rolls its transaction back whole, watermark included, and the next run
does that batch again. Reads (billing.selectors) add ``records_not_rolled_up()`` to DailyUsage in one
statement: the watermark moves in the same commit as the sums, so a read sees both or neither.

Call it outside a transaction: on PostgreSQL the horizon's lock must not be held for longer than that.
"""

import logging

from django.db import OperationalError, connection, transaction
from django.db.models import BigIntegerField, Count, Max, Min, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.money import to_micros

from .models import DailyUsage, RollupState, UsageRecord

logger = logging.getLogger(__name__)

# Numbers per batch, so at most that many records (numbers skipped by rolled-back inserts make some
# batches smaller). Large, because a batch costs one pass over its records plus one upsert per group
# whatever its size (1,000,000 records in batches of 100,000 took 2x as long as in one), and a
# backlog this size only builds up when the roll-up has been stopped for a while.
BATCH_SIZE = 1_000_000
# How long the horizon may wait for inserts in flight (new inserts wait behind it meanwhile).
HORIZON_LOCK_TIMEOUT = "1s"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout runs out
GROUP_FIELDS = ("organization_id", "api_key_id", "day", "tier", "model")
# Groups per INSERT statement: 9 values each, under SQLite's 32,766 parameters.
GROUPS_PER_STATEMENT = 2_000

UPSERT_DAILY = """
    INSERT INTO {daily} AS daily ({groups}, requests, prompt_tokens, completion_tokens, cost_usd)
    VALUES {values}
    ON CONFLICT ({groups}) DO UPDATE SET
        requests = daily.requests + excluded.requests,
        prompt_tokens = daily.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = daily.completion_tokens + excluded.completion_tokens,
        cost_usd = daily.cost_usd + excluded.cost_usd
"""


def records_not_rolled_up() -> QuerySet[UsageRecord]:
    """The records above the watermark, the watermark read in the same statement as the records."""
    watermark = Coalesce(
        Subquery(RollupState.objects.values("watermark")[:1]), Value(0), output_field=BigIntegerField()
    )
    return UsageRecord.objects.filter(seq__gt=watermark)


def usage_rollup(*, batch_size: int = BATCH_SIZE) -> int:
    """Rolls up every record inserted (and committed) before it started; returns how many it rolled
    up. Running it again, or in two workers at once, adds nothing twice."""
    try:
        horizon = _horizon()
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        # Inserts in flight did not finish within the lock timeout. The reads count their records
        # all the same (they are above the watermark), and the next run rolls them up.
        logger.warning("Usage roll-up skipped: inserts in flight held the usage table too long.")
        return 0
    total = 0
    while (rolled := _rollup_batch(horizon=horizon, batch_size=batch_size)) is not None:
        total += rolled
    return total


def _horizon() -> int:
    if connection.vendor != "postgresql":
        return _highest_seq()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{HORIZON_LOCK_TIMEOUT}'")
        cursor.execute(f"LOCK TABLE {UsageRecord._meta.db_table} IN SHARE MODE")
        return _highest_seq()


def _highest_seq() -> int:
    return UsageRecord.objects.aggregate(highest=Max("seq"))["highest"] or 0


@transaction.atomic
def _rollup_batch(*, horizon: int, batch_size: int) -> int | None:
    """One batch above the watermark, up to the horizon; None once the watermark has reached it."""
    # The row is missing only where something emptied the table (a test's flush); start from zero.
    # On SQLite this write is also what takes the database's write lock before anything is read.
    RollupState.objects.bulk_create([RollupState()], ignore_conflicts=True)
    state = RollupState.objects.select_for_update().get()
    if state.watermark >= horizon:
        return None
    upper = min(horizon, state.watermark + batch_size)
    groups = list(
        UsageRecord.objects.filter(seq__gt=state.watermark, seq__lte=upper)
        .values_list(*GROUP_FIELDS)
        .annotate(
            requests=Count("*"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost=Sum("cost_usd"),
        )
        .order_by()
    )
    if not groups:
        # Numbers can be missing in runs (inserts rolled back, a database emptied and filled again):
        # the batch moves straight to the next number in use. Every number up to the horizon is
        # committed or gone for good, so nothing can appear in the stretch skipped.
        following = UsageRecord.objects.filter(seq__gt=upper, seq__lte=horizon).aggregate(next=Min("seq"))
        upper = horizon if following["next"] is None else following["next"] - 1
    _add_to_daily_usage(groups)
    state.watermark = upper
    state.rolled_up_at = timezone.now()
    state.save(update_fields=["watermark", "rolled_up_at"])
    return sum(group[len(GROUP_FIELDS)] for group in groups)


def _add_to_daily_usage(groups: list[tuple]) -> None:
    """``groups``: (organization id, key id, day, tier, model, requests, prompt tokens, completion
    tokens, cost as a Decimal), added to their DailyUsage rows, which are created when missing."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for start in range(0, len(groups), GROUPS_PER_STATEMENT):
            chunk = groups[start : start + GROUPS_PER_STATEMENT]
            statement = UPSERT_DAILY.format(
                daily=quote(DailyUsage._meta.db_table),
                groups=", ".join(quote(DailyUsage._meta.get_field(name).column) for name in GROUP_FIELDS),
                values=", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk)),
            )
            cursor.execute(
                statement,
                [value for *group, cost in chunk for value in (*group, to_micros(cost))],
            )
