"""Money under concurrency, on PostgreSQL with real row locks (CI's second pass)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.db.models import Max
from django.test import Client

from apikeys.models import ApiKey
from billing.models import DailyUsage, LedgerEntry, RollupState, UsageRecord
from billing.rollup import usage_rollup
from billing.selectors import account_with_plan, usage_by_model
from billing.services import checkout_create
from tests.billing.helpers import use
from tests.billing.test_rollup_and_usage import bulk_usage, raw_sums, rolled_sums
from tests.conftest import make_user, new_key
from tests.fakes.stripe_server import event, sign

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks")


def in_threads(function, count: int, workers: int = 20) -> list:
    def run(index):
        try:
            return function(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(count)))


def test_200_concurrent_recordings_add_up_to_the_micro_dollar(transactional_db):
    user = make_user("busy@example.com")
    api_key, _ = new_key(user)
    models = ["nexevo/fast", "nexevo/balanced", "openai/gpt-4o-mini"]
    in_threads(
        lambda index: use(
            ApiKey.objects.select_related("organization").get(pk=api_key.pk),
            models[index % 3],
            prompt=100 + index,
            completion=50 + index,
        ),
        200,
    )

    records = list(UsageRecord.objects.filter(api_key=api_key))
    assert len(records) == 200
    exact = sum((record.cost_usd for record in records), Decimal(0))
    assert account_with_plan(api_key.organization).balance_usd == -exact
    assert (
        sum(
            LedgerEntry.objects.filter(organization=api_key.organization).values_list(
                "amount_usd", flat=True
            ),
            Decimal(0),
        )
        == -exact
    )
    api_key.refresh_from_db()
    assert api_key.month_to_date_spend() == exact


def test_the_same_completed_session_sent_10_times_at_once_credits_once(transactional_db, stripe):
    user = make_user("payer@example.com")
    membership = user.memberships.get()
    top_up = checkout_create(membership=membership, amount_usd="20", idempotency_key="concurrent-1")
    payload = event(
        "checkout.session.completed",
        {"id": top_up.session_id, "amount_total": 2000, "currency": "usd", "payment_status": "paid"},
        event_id="evt_concurrent",
    )
    header = sign(payload, "whsec_test_nexevo")

    def deliver(_index):
        return (
            Client()
            .post(
                "/v1/billing/stripe/webhook",
                payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            .status_code
        )

    assert set(in_threads(deliver, 10, workers=10)) == {200}
    assert account_with_plan(membership.organization).balance_usd == Decimal("20")
    assert LedgerEntry.objects.filter(kind="top_up").count() == 1


def test_usage_keeps_being_recorded_while_plans_change(transactional_db):
    from billing.services import plan_change
    from tests.billing.helpers import credit

    alice, bob = make_user("a@example.com"), make_user("b@example.com")
    alices_key, _ = new_key(alice)
    bobs_key, _ = new_key(bob)
    credit(alices_key.organization, "100")
    alice_membership = alice.memberships.get()

    def work(index):
        if index == 0:
            return plan_change(membership=alice_membership, plan_id="pro")
        key = alices_key if index % 2 else bobs_key
        return use(ApiKey.objects.select_related("organization").get(pk=key.pk), "nexevo/fast")

    results = in_threads(work, 41, workers=12)
    assert len(results) == 41
    assert UsageRecord.objects.count() == 40
    assert account_with_plan(alices_key.organization).plan_id == "pro"


# The usage roll-up under concurrency: two roll-ups at once, roll-ups and reads while usage is being
# recorded, a record whose insert commits after a later one's, and a roll-up killed mid-batch.


def fresh(api_key) -> ApiKey:
    """The key as a request in another thread would load it."""
    return ApiKey.objects.select_related("organization").get(pk=api_key.pk)


def wait_until_blocked(statement_start: str, *, pid: int | None = None) -> None:
    """Until a backend (``pid``, or any) running a statement that starts so waits for a lock."""
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND btrim(query, E' \\n\\t') LIKE %s AND (%s::int IS NULL OR pid = %s::int)",
                [statement_start + "%", pid, pid],
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing waited on a lock in {statement_start!r}")


def test_two_roll_ups_at_once_add_every_record_once(transactional_db):
    api_key, _ = new_key(make_user("busy@example.com"))
    bulk_usage(api_key, 6000)
    start = threading.Barrier(2)

    def roll_up(_index):
        start.wait()
        return usage_rollup(batch_size=500)

    assert sum(in_threads(roll_up, 2, workers=2)) == 6000
    assert rolled_sums() == raw_sums()
    highest = UsageRecord.objects.aggregate(highest=Max("seq"))["highest"]
    assert RollupState.objects.get().watermark == highest


def test_roll_ups_and_reads_while_usage_is_recorded_count_every_record_once(transactional_db):
    api_key, _ = new_key(make_user("busy@example.com"))
    organization = api_key.organization

    def requests_read() -> int:
        return sum(bucket["requests"] for bucket in usage_by_model(organization, days=7))

    def work(index):
        if index % 4 == 0:
            return ("rolled", usage_rollup(batch_size=3))
        if index % 4 == 1:
            committed_before = UsageRecord.objects.count()
            read = requests_read()
            return ("read", (committed_before, read, UsageRecord.objects.count()))
        use(fresh(api_key), ["nexevo/fast", "openai/gpt-4o-mini"][index % 2])
        return ("used", 1)

    results = in_threads(work, 120, workers=12)
    for _kind, (before, read, after) in (result for result in results if result[0] == "read"):
        assert before <= read <= after
    rolled = sum(value for kind, value in results if kind == "rolled") + usage_rollup()
    assert rolled == UsageRecord.objects.count() == 60
    assert rolled_sums() == raw_sums()
    assert requests_read() == 60


def hold_an_insert_open(api_key, inserted: threading.Event, release: threading.Event):
    """A thread that records one use and keeps its transaction open until ``release``."""

    def run():
        try:
            with transaction.atomic():
                use(fresh(api_key))
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    assert inserted.wait(10)
    return thread


def test_a_roll_up_waits_for_a_record_inserted_before_a_later_one_commits(transactional_db, monkeypatch):
    # Long enough that a loaded machine does not turn the wait into giving up (the next test's case).
    monkeypatch.setattr("billing.rollup.HORIZON_LOCK_TIMEOUT", "30s")
    first_key, _ = new_key(make_user("slow@example.com"))
    second_key, _ = new_key(make_user("quick@example.com"))
    inserted, release = threading.Event(), threading.Event()
    slow = hold_an_insert_open(first_key, inserted, release)
    use(second_key)  # numbered after the open one, committed first
    assert UsageRecord.objects.count() == 1

    rolled = []
    rolling = threading.Thread(target=lambda: rolled.append(usage_rollup()) or connections.close_all())
    rolling.start()
    wait_until_blocked("LOCK TABLE")
    release.set()
    slow.join()
    rolling.join()

    assert rolled == [2]
    assert rolled_sums() == raw_sums()
    assert DailyUsage.objects.count() == 2


def test_a_roll_up_gives_up_when_an_insert_holds_the_table_too_long(transactional_db, caplog):
    api_key, _ = new_key(make_user("slow@example.com"))
    bulk_usage(api_key, 10)
    inserted, release = threading.Event(), threading.Event()
    slow = hold_an_insert_open(api_key, inserted, release)
    try:
        assert usage_rollup() == 0
    finally:
        release.set()
        slow.join()
    assert "Usage roll-up skipped" in caplog.text
    assert RollupState.objects.filter(watermark__gt=0).count() == 0
    assert usage_rollup() == 11
    assert rolled_sums() == raw_sums()


def test_a_roll_up_killed_mid_batch_loses_and_duplicates_nothing(transactional_db):
    api_key, _ = new_key(make_user("busy@example.com"))
    bulk_usage(api_key, 500, seed=1)
    usage_rollup()
    before = (rolled_sums(), RollupState.objects.get().watermark)
    bulk_usage(api_key, 500, seed=2)
    new = UsageRecord.objects.filter(seq__gt=before[1]).values("day", "tier", "model").first()
    contested = DailyUsage.objects.get(api_key=api_key, **new)

    locked, release = threading.Event(), threading.Event()

    def hold_a_daily_row():
        try:
            with transaction.atomic():
                DailyUsage.objects.select_for_update().get(pk=contested.pk)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_a_daily_row)
    holder.start()
    assert locked.wait(10)
    worker_pid, failures = [], []

    def roll_up():
        try:
            connection.ensure_connection()
            worker_pid.append(connection.connection.info.backend_pid)
            usage_rollup()
        except Exception as error:  # noqa: BLE001 - the kill, reported to the test
            failures.append(error)
        finally:
            connections.close_all()

    worker = threading.Thread(target=roll_up)
    worker.start()
    try:
        while not worker_pid:
            time.sleep(0.01)
        wait_until_blocked("INSERT INTO", pid=worker_pid[0])  # its sums half-written
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [worker_pid[0]])
        worker.join(10)
    finally:
        release.set()
        holder.join()

    assert failures, "the roll-up was not killed"
    assert (rolled_sums(), RollupState.objects.get().watermark) == before
    assert usage_rollup() == 500
    assert rolled_sums() == raw_sums()
