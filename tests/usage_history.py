"""Usage history written in bulk, with its dates, as the roll-up and the request log would hold it:
for pages that must cost the same with ten records and with a hundred thousand."""

import datetime
import random
from decimal import Decimal

from django.utils import timezone

from billing.models import Tier, UsageRecord
from core.ids import new_id
from gateway.models import RequestLog

MODELS = [
    ("nexevo/fast", "deepseek/deepseek-chat", Tier.FAST),
    ("nexevo/balanced", "openai/gpt-4o-mini", Tier.BALANCED),
    ("openai/gpt-4o-mini", "openai/gpt-4o-mini", Tier.PASSTHROUGH),
    (
        "anthropic/claude-3-5-haiku-very-long-model-identifier-2025",
        "anthropic/claude-3-5-haiku",
        Tier.PASSTHROUGH,
    ),
]


def usage_history(
    organization, keys, user, *, count: int, now: datetime.datetime | None = None, request_log: bool = True
) -> None:
    """``count`` usage records (and their request log) spread over the 29 days before today, in bulk."""
    now = now or timezone.now()
    generator = random.Random(16)
    records, logs = [], []
    for index in range(count):
        created = now - datetime.timedelta(days=1 + index % 29, minutes=generator.randrange(0, 1200))
        requested, model, tier = MODELS[index % len(MODELS)]
        api_key = keys[index % len(keys)]
        cost = Decimal(generator.randrange(20, 4000)) / Decimal(1_000_000)
        failed = index % 17 == 0
        record_id = new_id("gen")
        if not failed:
            records.append(
                UsageRecord(
                    id=record_id,
                    organization=organization,
                    api_key=api_key,
                    user=user,
                    requested_model=requested,
                    model=model,
                    tier=tier,
                    prompt_tokens=generator.randrange(50, 4000),
                    completion_tokens=generator.randrange(10, 900),
                    cost_usd=cost,
                    created_at=created,
                    day=created.astimezone(datetime.UTC).date(),
                )
            )
        logs.append(
            RequestLog(
                id=record_id,
                organization=organization,
                api_key=api_key,
                created_at=created,
                requested_model=requested,
                model="" if failed else model,
                provider="" if failed else model.split("/")[0],
                tier=tier,
                status="failed" if failed else "completed",
                http_status=502 if failed else 200,
                error_code="upstream_error" if failed else "",
                attempts=1,
                cost_usd=Decimal(0) if failed else cost,
                latency_ms=generator.randrange(200, 4000),
            )
        )
    UsageRecord.objects.bulk_create(records, batch_size=1000)
    if request_log:
        RequestLog.objects.bulk_create(logs, batch_size=1000)


def usage_records_in_sql(organization, api_key, user, *, count: int, at: datetime.datetime) -> None:
    """``count`` usage records of one day, made by the database itself (a recursive CTE): a hundred
    thousand in about a second, where building them in Python takes half a minute."""
    from django.db import connection

    prefix = new_id("gen")[4:14]
    day = at.astimezone(datetime.UTC).date()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < %s)
            INSERT INTO billing_usagerecord
                (id, organization_id, api_key_id, user_id, requested_model, model, tier,
                 prompt_tokens, completion_tokens, cost_usd, created_at, day)
            SELECT 'gen_' || %s || n, %s, %s, %s,
                   CASE n %% 2 WHEN 0 THEN 'nexevo/fast' ELSE 'openai/gpt-4o-mini' END,
                   CASE n %% 2 WHEN 0 THEN 'deepseek/deepseek-chat' ELSE 'openai/gpt-4o-mini' END,
                   CASE n %% 2 WHEN 0 THEN 'fast' ELSE 'passthrough' END,
                   100 + n %% 900, 10 + n %% 300, 40 + n %% 1000, %s, %s
            FROM numbers
            """,
            [
                count,
                prefix,
                organization.pk,
                api_key.pk,
                user.pk,
                connection.ops.adapt_datetimefield_value(at),
                connection.ops.adapt_datefield_value(day),
            ],
        )
