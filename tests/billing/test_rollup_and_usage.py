"""The daily roll-up and the usage reads built on it."""

import datetime
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Max, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import DailyUsage, RollupState, UsageRecord
from billing.rollup import usage_rollup
from billing.selectors import usage_by_model
from tests.billing.helpers import use
from tests.usage_history import usage_records_in_sql

GROUP = ("organization_id", "api_key_id", "day", "tier", "model")
MODELS = [("nexevo/fast", None), ("nexevo/balanced", "openai/gpt-4o"), ("openai/gpt-4o-mini", None)]


def bulk_usage(api_key, count: int, *, days_back: int = 6, seed: int = 7) -> None:
    """``count`` raw records spread over the last days, written in bulk (not priced one by one)."""
    rng = random.Random(seed)
    now = timezone.now()
    records = []
    for index in range(count):
        model, served = MODELS[index % len(MODELS)]
        created = now - datetime.timedelta(days=rng.randint(0, days_back), seconds=rng.randint(0, 3600))
        records.append(
            UsageRecord(
                organization_id=api_key.organization_id,
                api_key=api_key,
                user_id=api_key.created_by_id,
                requested_model=model,
                model=served or model,
                tier={"nexevo/fast": "fast", "nexevo/balanced": "balanced"}.get(model, "passthrough"),
                prompt_tokens=rng.randint(1, 5000),
                completion_tokens=rng.randint(1, 2000),
                cost_usd=Decimal(rng.randint(1, 999_999)) / 1_000_000,
                created_at=created,
                day=created.astimezone(datetime.UTC).date(),
            )
        )
    UsageRecord.objects.bulk_create(records, batch_size=5000)


def raw_sums():
    return list(
        UsageRecord.objects.values(*GROUP)
        .annotate(
            requests=Count("pk"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost_usd=Sum("cost_usd"),
        )
        .order_by(*GROUP)
    )


def rolled_sums():
    return list(
        DailyUsage.objects.values(
            *GROUP,
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
        ).order_by(*GROUP)
    )


def test_the_totals_equal_the_raw_sums_and_a_second_run_changes_nothing(alice_key):
    bulk_usage(alice_key[0], 3000)
    assert usage_rollup(batch_size=700) == 3000
    assert rolled_sums() == raw_sums()
    assert usage_rollup() == 0
    assert rolled_sums() == raw_sums()


def test_it_is_incremental(alice_key):
    api_key = alice_key[0]
    bulk_usage(api_key, 500, seed=1)
    usage_rollup()
    bulk_usage(api_key, 400, seed=2)
    assert usage_rollup() == 400
    assert rolled_sums() == raw_sums()


def watermark() -> int:
    return RollupState.objects.get().watermark


def read_totals(organization) -> dict:
    """What the usage pages show per (tier, model), without the zero rows."""
    return {
        (row["tier"], row["model"]): (row["requests"], row["prompt_tokens"], row["cost_usd"])
        for row in usage_by_model(organization, days=30)
    }


def raw_totals(organization) -> dict:
    return {
        (row["tier"], row["model"]): (row["requests"], row["prompt_tokens"], row["cost_usd"])
        for row in UsageRecord.objects.filter(organization=organization)
        .values("tier", "model")
        .annotate(requests=Count("pk"), prompt_tokens=Sum("prompt_tokens"), cost_usd=Sum("cost_usd"))
    }


def test_it_numbers_every_record_as_it_is_inserted_whatever_it_is_sent(alice_key):
    api_key = alice_key[0]
    first = use(api_key)
    bulk_usage(api_key, 3)
    forged = UsageRecord.objects.get(pk=first.pk)
    forged.pk, forged.seq = "gen_forged", -5
    UsageRecord.objects.bulk_create([forged])
    last = use(api_key)
    numbers = list(UsageRecord.objects.order_by("seq").values_list("id", "seq"))
    assert len(numbers) == 6 and all(seq is not None and seq > 0 for _, seq in numbers)
    assert len({seq for _, seq in numbers}) == 6
    assert numbers[0][0] == first.id and numbers[-1][0] == last.id
    assert numbers[-2][0] == "gen_forged"


def test_records_are_never_updated_or_deleted(alice_key):
    use(alice_key[0])
    with pytest.raises(ValueError, match="append-only"):
        UsageRecord.objects.update(prompt_tokens=1)
    with pytest.raises(ValueError, match="append-only"):
        UsageRecord.objects.all().delete()
    assert UsageRecord.objects.get().prompt_tokens == 1000


def test_the_watermark_ends_at_the_last_record_rolled_up(alice_key):
    bulk_usage(alice_key[0], 50)
    usage_rollup(batch_size=7)
    assert watermark() == UsageRecord.objects.aggregate(highest=Max("seq"))["highest"]
    assert RollupState.objects.get().rolled_up_at is not None


def numbering_jumps_by(count: int) -> None:
    """The next usage record is numbered ``count`` above the last: a gap, as inserts rolled back or
    a database emptied and filled again leave (PostgreSQL's sequence; SQLite's rowid)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT setval('billing_usagerecord_seq', nextval('billing_usagerecord_seq') + %s)", [count]
            )
        else:
            highest = UsageRecord.objects.aggregate(highest=Max("seq"))["highest"] or 0
            # A new rowid is one above the highest: a row placed up there moves the numbering.
            cursor.execute(
                """
                INSERT INTO billing_usagerecord
                    (rowid, id, organization_id, api_key_id, user_id, requested_model, model, tier,
                     prompt_tokens, completion_tokens, cost_usd, created_at, day)
                SELECT %s, 'gen_gapmarker', organization_id, api_key_id, user_id, requested_model, model,
                       tier, prompt_tokens, completion_tokens, cost_usd, created_at, day
                FROM billing_usagerecord LIMIT 1
                """,
                [highest + count],
            )


def test_a_roll_up_crosses_a_gap_in_the_numbering_in_one_step(alice_key):
    api_key = alice_key[0]
    use(api_key)
    numbering_jumps_by(1_000_000)
    use(api_key)

    with CaptureQueriesContext(connection) as queries:
        rolled = usage_rollup(batch_size=3)

    assert rolled == UsageRecord.objects.count()
    assert watermark() == UsageRecord.objects.aggregate(highest=Max("seq"))["highest"]
    assert rolled_sums() == raw_sums()
    moves = [
        query for query in queries.captured_queries if query["sql"].startswith('UPDATE "billing_rollupstate"')
    ]
    assert len(moves) <= 4  # not a million / 3


def test_reads_count_every_record_once_as_the_roll_up_catches_up(alice_key):
    api_key = alice_key[0]
    organization = api_key.organization
    bulk_usage(api_key, 300, seed=1)
    assert read_totals(organization) == raw_totals(organization)  # all tail
    usage_rollup(batch_size=100)
    bulk_usage(api_key, 200, seed=2)
    use(api_key, "nexevo/balanced", served="openai/gpt-4o")
    assert read_totals(organization) == raw_totals(organization)  # rolled up and tail
    assert usage_rollup() == 201
    assert read_totals(organization) == raw_totals(organization)  # all rolled up
    assert not DailyUsage.objects.filter(requests=0).exists()


def test_a_roll_up_that_fails_mid_batch_leaves_nothing_behind(alice_key):
    api_key = alice_key[0]
    organization = api_key.organization
    bulk_usage(api_key, 400, seed=1)
    usage_rollup()
    before = (rolled_sums(), watermark())
    bulk_usage(api_key, 400, seed=2)

    class Crash(Exception):
        pass

    def crash_after_the_sums_are_written(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip().startswith(f"INSERT INTO {connection.ops.quote_name('billing_dailyusage')}"):
            raise Crash
        return result

    with pytest.raises(Crash), connection.execute_wrapper(crash_after_the_sums_are_written):
        usage_rollup()
    assert (rolled_sums(), watermark()) == before
    assert read_totals(organization) == raw_totals(organization)
    assert usage_rollup() == 400
    assert rolled_sums() == raw_sums()


def test_reads_include_records_not_rolled_up_yet(api_as, alice_key):
    api_key, full_key = alice_key
    use(api_key, "nexevo/fast")
    usage_rollup()
    use(api_key, "nexevo/fast")  # the tail
    use(api_key, "openai/gpt-4o-mini")
    body = api_as(full_key).get("/v1/billing/usage?days=7").json()
    today = body["days"][-1]
    assert today["date"] == timezone.now().astimezone(datetime.UTC).date().isoformat()
    assert today["requests"] == 3
    assert today["by_tier"]["fast"] == {
        "requests": 2,
        "prompt_tokens": 2000,
        "completion_tokens": 1000,
        "cost_usd": "0.001",
    }
    assert today["by_tier"]["passthrough"]["cost_usd"] == "0.000472"
    assert today["by_tier"]["byok"] == {
        "requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": "0.00",
    }
    assert body["totals"]["cost_usd"] == "0.001472"


def test_usage_lists_every_day_and_tier_with_zeros(api_as, alice_key):
    body = api_as(alice_key[1]).get("/v1/billing/usage?days=7").json()
    assert len(body["days"]) == 7
    assert all(set(day["by_tier"]) == {"fast", "balanced", "passthrough", "byok"} for day in body["days"])
    assert body["totals"]["requests"] == 0 and body["totals"]["cost_usd"] == "0.00"
    dates = [day["date"] for day in body["days"]]
    assert dates == sorted(dates)


@pytest.mark.parametrize("days", ["0", "367", "abc", "-1", "1.5", "", "²", "٣"])
def test_days_out_of_range_is_a_400(api_as, alice_key, days):
    response = api_as(alice_key[1]).get(f"/v1/billing/usage?days={days}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "days"


def test_usage_reads_cost_the_same_queries_for_10_and_100_000_records(
    api_as, alice_key, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api_key, full_key = alice_key
    client = api_as(full_key)
    bulk_usage(api_key, 10)
    usage_rollup()
    bulk_usage(api_key, 5, seed=3)  # a tail as well
    client.get("/v1/billing/usage?days=30")
    with CaptureQueriesContext(connection) as few:
        small = client.get("/v1/billing/usage?days=30").json()

    # In one statement: built in Python they take long enough for the key's cache to lapse.
    usage_records_in_sql(api_key.organization, api_key, api_key.created_by, count=100_000, at=timezone.now())
    usage_rollup()
    bulk_usage(api_key, 5, seed=5)
    with django_assert_num_queries(len(few.captured_queries)):
        large = client.get("/v1/billing/usage?days=30").json()
    assert large["totals"]["requests"] == small["totals"]["requests"] + 100_005


def test_the_usage_page_costs_the_same_queries_for_10_and_100_000_records(
    alice, alice_key, django_assert_num_queries
):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    api_key = alice_key[0]
    browser = Client()
    browser.force_login(alice)
    bulk_usage(api_key, 10)
    usage_rollup()
    bulk_usage(api_key, 5, seed=3)
    views = [
        "/billing/usage/?days=30",
        f"/billing/usage/?days=90&metric=tokens&key={api_key.id}&model=openai/gpt-4o",
    ]
    counts = {}
    for view in views:
        browser.get(view)
        with CaptureQueriesContext(connection) as few:
            page = browser.get(view)
        assert page.status_code == 200 and "<rect" in page.content.decode()
        counts[view] = len(few.captured_queries)
    # In one statement: built in Python they take long enough for the key's cache to lapse.
    usage_records_in_sql(api_key.organization, api_key, api_key.created_by, count=100_000, at=timezone.now())
    usage_rollup()
    for view in views:
        with django_assert_num_queries(counts[view]):
            assert browser.get(view).status_code == 200


def test_the_migration_rolls_up_what_the_old_scheme_had_not_and_numbers_by_time(transactional_db, alice_key):
    from django.db.migrations.executor import MigrationExecutor

    api_key = alice_key[0]
    old = [("billing", "0003_refunds_by_payment_intent")]
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    executor = MigrationExecutor(connection)
    executor.migrate(old)
    try:
        apps = executor.loader.project_state(old).apps
        OldRecord, OldDaily = (
            apps.get_model("billing", "UsageRecord"),
            apps.get_model("billing", "DailyUsage"),
        )
        start = timezone.now() - datetime.timedelta(hours=3)

        def old_record(name, *, hours, model, cost, rolled):
            OldRecord.objects.create(
                id=f"gen_{name}",
                organization_id=api_key.organization_id,
                api_key_id=api_key.pk,
                user_id=api_key.created_by_id,
                requested_model=model,
                model=model,
                tier="fast",
                prompt_tokens=100,
                completion_tokens=10,
                cost_usd=Decimal(cost),
                created_at=start + datetime.timedelta(hours=hours),
                day=start.astimezone(datetime.UTC).date(),
                rollup_batch="rb_old" if rolled else None,
            )

        old_record("rolled", hours=2, model="nexevo/fast", cost="0.000001", rolled=True)
        OldDaily.objects.create(
            organization_id=api_key.organization_id,
            api_key_id=api_key.pk,
            day=start.astimezone(datetime.UTC).date(),
            tier="fast",
            model="nexevo/fast",
            requests=1,
            prompt_tokens=100,
            completion_tokens=10,
            cost_usd=Decimal("0.000001"),
        )
        old_record("same_group", hours=0, model="nexevo/fast", cost="0.000020", rolled=False)
        old_record("new_group", hours=1, model="nexevo/fast-2", cost="0.000300", rolled=False)
    finally:
        MigrationExecutor(connection).migrate(latest)

    assert rolled_sums() == raw_sums()
    assert DailyUsage.objects.get(model="nexevo/fast").cost_usd == Decimal("0.000021")
    assert list(UsageRecord.objects.order_by("seq").values_list("id", "seq")) == [
        ("gen_same_group", 1),
        ("gen_new_group", 2),
        ("gen_rolled", 3),
    ]
    assert watermark() == 3
    assert usage_rollup() == 0
    newest = use(api_key)
    assert UsageRecord.objects.get(pk=newest.pk).seq > 3
    assert usage_rollup() == 1
    assert rolled_sums() == raw_sums()
