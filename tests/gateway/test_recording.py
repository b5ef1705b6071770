"""Recording a served request (gateway.recording): the one statement PostgreSQL runs writes the same
rows as the reference path (billing.services.usage_record), a plan changed since admission is priced
under the new plan, and the alerts the new balance and spend call for still go out."""

import datetime
import re
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import SpendAlert
from apikeys.models import ApiKey
from apikeys.services import key_authenticate, key_create
from billing.charges import charges_write
from billing.models import BillingAccount, LedgerEntry, Plan, UsageRecord
from billing.services import low_balance_threshold_set, plan_change
from core.months import month_start
from gateway import admission, database, recording, routing, snapshots
from gateway.models import OrganizationProviderKey, RequestLog, RequestStatus
from tests.billing.helpers import credit
from tests.conftest import new_key

from .conftest import hello, run_async

# 1,000 prompt and 500 completion tokens: the test catalog's list price ($1.00/M in, $2.00/M out)
# makes that $0.002000 before the plan's markup.
SERVED = {
    "prompt_tokens": 1000,
    "completion_tokens": 500,
    "status": RequestStatus.COMPLETED,
    "http_status": 200,
}
USAGE_FIELDS = [
    "requested_model",
    "model",
    "tier",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "user_id",
    "organization_id",
    "api_key_id",
    "day",
]
LOG_FIELDS = [
    "organization_id",
    "api_key_id",
    "requested_model",
    "model",
    "provider",
    "tier",
    "stream",
    "status",
    "http_status",
    "error_code",
    "attempts",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
]


@pytest.fixture
def postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the one-statement recording is PostgreSQL's")


def planned(full_key: str, model: str, **extra) -> recording.ChatRequest:
    """A request as the endpoint holds it once the provider has answered: admitted, with its first
    target tried."""
    api_key, body = key_authenticate(full_key), hello(model, **extra)
    route = routing.route(api_key=api_key, model=model)
    pending = recording.ChatRequest(
        api_key=api_key,
        body=body,
        started=time.monotonic(),
        route=route,
        admission=admission.assess(api_key=api_key, route=route, body=body),
    )
    pending.target = pending.route.targets[0]
    pending.attempts = 1
    return pending


def ran_the_statement(queries) -> bool:
    return any(query["sql"] == recording.CHARGES.statement for query in queries.captured_queries)


def inserted_with_the_orm(queries) -> bool:
    return any('INSERT INTO "billing_usagerecord"' in query["sql"] for query in queries.captured_queries)


def balance_of(api_key) -> Decimal:
    return BillingAccount.objects.get(organization_id=api_key.organization_id).balance_usd


def spend_of(api_key) -> Decimal:
    return ApiKey.objects.get(pk=api_key.pk).month_to_date_spend()


def test_the_statement_names_the_models_tables_and_columns():
    """The charge's statement (billing.charges, with the request log) is plain SQL: its tables and
    columns are checked against the models here, so a renamed or added column cannot go unnoticed."""
    models = [BillingAccount, UsageRecord, LedgerEntry, RequestLog, ApiKey]
    columns = {
        model._meta.db_table: {field.column for field in model._meta.concrete_fields} for model in models
    }

    inserts = {
        table: [name.strip() for name in names.split(",")]
        for table, names in re.findall(r"INSERT INTO (\w+) \(([^)]*)\)", recording.CHARGES.statement)
    }
    assert set(inserts) == {"billing_usagerecord", "billing_ledgerentry", "gateway_requestlog"}
    for table, names in inserts.items():
        assert len(names) == len(set(names)), table
        # Every column is written, but the sequence number the trigger sets.
        assert columns[table] - set(names) == ({"seq"} if table == "billing_usagerecord" else set()), table
        assert set(names) <= columns[table], table

    updates = re.findall(
        r"UPDATE (\w+) AS (\w+) SET(.*?)FROM(.*?)WHERE(.*?)\)", recording.CHARGES.statement, re.S
    )
    assert [table for table, *_ in updates] == ["billing_billingaccount", "apikeys_apikey"]
    for table, alias, assignments, _source, condition in updates:
        named = set(re.findall(r"(\w+) =", assignments)) | set(re.findall(rf"\b{alias}\.(\w+)", condition))
        assert named <= columns[table], (table, named - columns[table])
    # What is read and locked: each name a column of its table.
    for table, names in re.findall(r"SELECT ([\w, ]+)\s+FROM (\w+)", recording.CHARGES.statement):
        if table in columns:
            assert {name.strip() for name in names.split(",")} <= columns[table], table


@pytest.mark.parametrize(
    ("model", "own_key", "tier", "cost"),
    [
        ("west/chat-a", False, "passthrough", "0.002100"),  # +5% on payg
        ("nexevo/balanced", False, "balanced", "0.002500"),  # 1000 × $1.00/M + 500 × $3.00/M
        ("west/chat-a", True, "byok", "0.000060"),  # 3% of the list price
    ],
)
def test_the_one_statement_writes_what_the_reference_path_writes(
    postgresql, funded, model, own_key, tier, cost
):
    api_key, full_key = funded
    if own_key:
        own = OrganizationProviderKey(organization=api_key.organization, provider_id="west", last_four="mine")
        own.set_api_key("sk-org-own-mine")
        own.save()
    routing.reseed(1234)
    by_services = planned(full_key, model)
    routing.reseed(1234)
    in_one = planned(full_key, model)
    assert by_services.target == in_one.target  # the same request, served by the same target

    with CaptureQueriesContext(connection) as reference:
        reference_outcome = recording.record_with_the_orm(by_services, **SERVED)
    with CaptureQueriesContext(connection) as statement:
        statement_outcome = recording.record(in_one, **SERVED)

    assert (ran_the_statement(reference), inserted_with_the_orm(reference)) == (False, True)
    assert (ran_the_statement(statement), inserted_with_the_orm(statement)) == (True, False)
    assert reference_outcome == statement_outcome == recording.Metered(1000, 500, Decimal(cost))

    first = UsageRecord.objects.get(pk=by_services.generation_id)
    second = UsageRecord.objects.get(pk=in_one.generation_id)
    assert [getattr(second, name) for name in USAGE_FIELDS] == [getattr(first, name) for name in USAGE_FIELDS]
    assert (first.requested_model, first.tier, first.cost_usd, first.user_id, first.day) == (
        model,
        tier,
        Decimal(cost),
        api_key.created_by_id,
        timezone.now().date(),
    )
    assert abs(second.created_at - first.created_at).total_seconds() < 60

    entries = [LedgerEntry.objects.get(reference=p.generation_id) for p in (by_services, in_one)]
    for entry in entries:
        assert (
            entry.organization_id,
            entry.kind,
            entry.amount_usd,
            entry.description,
            entry.created_by_id,
        ) == (
            api_key.organization_id,
            "usage",
            -Decimal(cost),
            f"{first.model} ({tier})",
            None,
        )

    logs = [RequestLog.objects.get(pk=p.generation_id) for p in (by_services, in_one)]
    assert [getattr(logs[1], name) for name in LOG_FIELDS] == [getattr(logs[0], name) for name in LOG_FIELDS]
    assert (logs[0].status, logs[0].http_status, logs[0].attempts, logs[0].cost_usd, logs[0].tier) == (
        "completed",
        200,
        1,
        Decimal(cost),
        tier,
    )

    assert balance_of(api_key) == Decimal("10.00") - 2 * Decimal(cost)
    assert spend_of(api_key) == 2 * Decimal(cost)


def test_a_plan_changed_since_admission_is_priced_under_the_new_plan(funded, alice):
    api_key, full_key = funded
    credit(api_key.organization, "100.00")  # enough for Pro's fee for the rest of the month
    pending = planned(full_key, "west/chat-a")
    assert pending.admission.plan.pk == "payg"
    plan_change(membership=alice.memberships.get(), plan_id="pro")
    before = balance_of(api_key)

    with CaptureQueriesContext(connection) as queries:
        outcome = recording.record(pending, **SERVED)

    # On PostgreSQL the statement found the account on another plan and wrote nothing; the reference
    # path then priced it under Pro: $0.002000 + 3% instead of payg's 5%.
    assert ran_the_statement(queries) == (connection.vendor == "postgresql")
    assert inserted_with_the_orm(queries)
    assert outcome.cost == Decimal("0.002060")
    record = UsageRecord.objects.get()
    assert (record.pk, record.cost_usd) == (pending.generation_id, Decimal("0.002060"))
    usage = LedgerEntry.objects.get(kind="usage")
    assert (usage.reference, usage.amount_usd) == (pending.generation_id, Decimal("-0.002060"))
    assert RequestLog.objects.get().cost_usd == Decimal("0.002060")
    assert balance_of(api_key) == before - Decimal("0.002060")
    assert spend_of(api_key) == Decimal("0.002060")


def test_falling_under_the_low_balance_line_sends_the_e_mail_once(
    funded, alice, mailoutbox, django_capture_on_commit_callbacks
):
    api_key, full_key = funded
    low_balance_threshold_set(membership=alice.memberships.get(), amount="10.00")  # $10.00 is not under
    assert mailoutbox == []

    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        recording.record(planned(full_key, "west/chat-a"), **SERVED)
        recording.record(planned(full_key, "west/chat-a"), **SERVED)  # still under: no second e-mail

    assert ran_the_statement(queries) == (connection.vendor == "postgresql")
    assert inserted_with_the_orm(queries) == (connection.vendor != "postgresql")
    account = BillingAccount.objects.get(organization=api_key.organization)
    assert (account.balance_usd, account.low_balance_alerted) == (Decimal("9.995800"), True)
    [message] = mailoutbox
    assert message.to == [alice.email]
    assert "$9.9979" in message.body


def capped_key(organization, creator):
    """A key with a $0.40 cap that alerts at 50% and 100%."""
    return key_create(
        organization=organization,
        created_by=creator,
        name="capped",
        monthly_spend_cap_usd="0.40",
        alert_thresholds_pct=[50, 100],
    )


def test_crossing_a_spend_threshold_records_one_alert(funded, alice):
    api_key, _full_key = funded
    capped, capped_full = capped_key(api_key.organization, alice)

    with CaptureQueriesContext(connection) as queries:
        recording.record(planned(capped_full, "west/chat-a"), **SERVED)  # $0.0021: under 50%
        assert not SpendAlert.objects.exists()
        # 100,000 + 50,000 tokens: $0.20 + 5% = $0.21, 52.5% of the cap.
        recording.record(
            planned(capped_full, "west/chat-a"),
            **{**SERVED, "prompt_tokens": 100_000, "completion_tokens": 50_000},
        )

    assert ran_the_statement(queries) == (connection.vendor == "postgresql")
    alert = SpendAlert.objects.get()
    assert (alert.api_key_id, alert.threshold_pct, alert.cap_usd, alert.spend_usd) == (
        capped.pk,
        50,
        Decimal("0.40"),
        Decimal("0.212100"),
    )
    assert spend_of(capped) == Decimal("0.212100")


# --- On the event loop ----------------------------------------------------------------------------


def on_a_loop(coroutine_function, *args, **kwargs):
    """Runs it on an event loop of its own, as the ASGI server would, and closes that loop's
    recording connections before the loop goes (gateway.database keeps a pool per loop)."""

    async def run():
        try:
            return await coroutine_function(*args, **kwargs)
        finally:
            await database.close()

    return run_async(run)


@pytest.fixture
def warm(settings):
    """Snapshots that stay for the whole test, so that ``arecord`` never has to fall back."""
    settings.NEXEVO_HOT_CACHE_SECONDS = 60


def test_arecord_writes_on_the_loops_own_connection(transactional_db, postgresql, funded, warm):
    api_key, full_key = funded
    pending = planned(full_key, "west/chat-a")

    with CaptureQueriesContext(connection) as queries:
        outcome = on_a_loop(recording.arecord, pending, **SERVED)

    assert not ran_the_statement(queries)  # not on Django's connection: on the pool's
    assert not inserted_with_the_orm(queries)
    assert outcome == recording.Metered(1000, 500, Decimal("0.002100"))
    record = UsageRecord.objects.get()
    assert (record.pk, record.model, record.tier, record.cost_usd) == (
        pending.generation_id,
        "west/chat-a",
        "passthrough",
        Decimal("0.002100"),
    )
    assert LedgerEntry.objects.get(kind="usage").reference == pending.generation_id
    log = RequestLog.objects.get()
    assert (log.pk, log.status, log.provider, log.cost_usd) == (
        pending.generation_id,
        "completed",
        "west",
        Decimal("0.002100"),
    )
    assert balance_of(api_key) == Decimal("9.997900")
    assert spend_of(api_key) == Decimal("0.002100")
    # The balance the database answered with is what this process now admits against.
    assert snapshots.peek(("account", api_key.organization_id)).balance == Decimal("9.997900")
    assert admission.account_view(api_key.organization_id).balance == Decimal("9.997900")


def test_arecord_sends_the_low_balance_e_mail_and_records_the_spend_alert(
    transactional_db, postgresql, funded, alice, warm, mailoutbox
):
    api_key, _full_key = funded
    capped, capped_full = capped_key(api_key.organization, alice)
    low_balance_threshold_set(membership=alice.memberships.get(), amount="9.90")
    pending = planned(capped_full, "west/chat-a")

    on_a_loop(recording.arecord, pending, **{**SERVED, "prompt_tokens": 100_000, "completion_tokens": 50_000})

    assert UsageRecord.objects.get().pk == pending.generation_id
    account = BillingAccount.objects.get(organization=api_key.organization)
    assert (account.balance_usd, account.low_balance_alerted) == (Decimal("9.79"), True)
    [message] = mailoutbox
    assert message.to == [alice.email]
    assert "$9.79" in message.body
    alert = SpendAlert.objects.get()
    assert (alert.api_key_id, alert.threshold_pct, alert.spend_usd) == (capped.pk, 50, Decimal("0.21"))


def test_a_batch_writes_and_answers_what_the_statement_does_one_entry_at_a_time(
    postgresql, funded, alice, bob, monkeypatch
):
    """The recorder's batch against the same statement run once per entry (billing.charges: a charge
    is a batch of one), from the same state: the same answers and the same rows written, over two
    organizations and three keys, a late entry of last month, one of next month, an organization
    that is gone and a plan that no longer holds; and one statement for the batch, however long."""
    api_key, full_key = funded
    capped, capped_full = capped_key(api_key.organization, alice)
    bobs_key, bobs_full = new_key(bob)
    credit(bobs_key.organization, "5.00")
    month = month_start(timezone.now())
    last_month = (month - datetime.timedelta(days=1)).replace(day=1)
    next_month = (month + datetime.timedelta(days=31)).replace(day=1)
    account = BillingAccount.objects.get(organization=api_key.organization)
    other_plan = Plan.objects.exclude(pk=account.plan_id).first()

    def entry(key, tokens, **changed):
        _outcome, journaled = recording.journal_entry(
            planned(key, "west/chat-a"), **{**SERVED, "prompt_tokens": tokens}
        )
        return {**recording.parameters_of(journaled), **changed}

    batch = [
        entry(full_key, 1000),
        entry(bobs_full, 2000),
        entry(capped_full, 30_000),
        entry(full_key, 500, month=last_month),  # written late: this month's spend stays
        entry(bobs_full, 700, month=next_month),  # the spend starts next month afresh...
        entry(bobs_full, 900),  # ...and this month's, after it, leaves it as it is
        entry(full_key, 300, organization="org_gone"),  # nothing to charge
        entry(capped_full, 400, plan=other_plan.pk),  # priced under a plan no longer held
        entry(full_key, 1200),
    ]

    def written():
        tables = {}
        for model in (BillingAccount, ApiKey, UsageRecord, LedgerEntry, RequestLog):
            names = [field.attname for field in model._meta.concrete_fields if field.attname != "seq"]
            tables[model.__name__] = list(model.objects.order_by("pk").values_list(*names))
        return tables

    with transaction.atomic():
        before = transaction.savepoint()
        one_at_a_time = [charges_write(recording.CHARGES, [parameters])[0] for parameters in batch]
        by_the_statement = written()
        transaction.savepoint_rollback(before)
        assert written() != by_the_statement  # rolled back: the batch starts where the statement did

        statements = []
        execute = psycopg.Cursor.execute

        def counted(cursor, sql, *args, **kwargs):
            statements.append(sql)
            return execute(cursor, sql, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        in_a_batch = charges_write(recording.CHARGES, batch)
        monkeypatch.undo()
        assert written() == by_the_statement
    assert in_a_batch == one_at_a_time
    assert [row is None for row in in_a_batch] == [False] * 6 + [True, True, False]
    assert len(statements) == 1
    # The later month's spend stays when this month's comes after it; a late one leaves this month's.
    assert (in_a_batch[4].month, in_a_batch[5].month) == (next_month, next_month)
    assert in_a_batch[5].spend == in_a_batch[4].spend
    assert in_a_batch[3].spend == in_a_batch[0].spend and in_a_batch[3].month == month
    # The keys as locked, with what the alerts after the batch look at.
    keys = {charge.api_key.pk: charge.api_key for charge in in_a_batch if charge is not None}
    assert sorted(keys) == sorted([api_key.pk, capped.pk, bobs_key.pk])
    assert (keys[capped.pk].monthly_spend_cap_usd, keys[capped.pk].alert_thresholds_pct) == (
        capped.monthly_spend_cap_usd,
        capped.alert_thresholds_pct,
    )
    assert keys[bobs_key.pk].organization_id == bobs_key.organization_id
    assert UsageRecord.objects.count() == 7


def test_a_journaled_batch_sends_the_low_balance_e_mail_and_records_the_spend_alert(
    transactional_db, postgresql, funded, alice, mailoutbox
):
    """The alerts after a batch, from the keys as the batch locked them: the low-balance e-mail once,
    and each spend threshold crossed recorded once."""
    api_key, _full_key = funded
    capped, capped_full = capped_key(api_key.organization, alice)
    low_balance_threshold_set(membership=alice.memberships.get(), amount="9.90")
    big = {**SERVED, "prompt_tokens": 50_000, "completion_tokens": 25_000}  # $0.105 each
    entries = [recording.journal_entry(planned(capped_full, "west/chat-a"), **big)[1] for _ in range(3)]

    settled, failed = recording.write_journaled(entries)

    assert (settled, failed) == ([entry["generation"] for entry in entries], [])
    account = BillingAccount.objects.get(organization=api_key.organization)
    assert (account.balance_usd, account.low_balance_alerted) == (Decimal("9.685"), True)
    [message] = mailoutbox
    assert message.to == [alice.email]
    assert "is $9.685, under the $9.90 you set" in message.body
    [alert] = SpendAlert.objects.all()
    assert (alert.api_key_id, alert.threshold_pct, alert.spend_usd) == (capped.pk, 50, Decimal("0.21"))


def test_batches_and_single_recordings_at_once_lose_no_debit(transactional_db, postgresql, funded):
    """The recorder's batches and the endpoint's one statement, on one account and key at the same
    time: each reads the balance and spend under its row locks, so neither overwrites the other's."""
    api_key, full_key = funded
    batches = [
        [recording.journal_entry(planned(full_key, "west/chat-a"), **SERVED)[1] for _ in range(10)]
        for _ in range(8)
    ]
    singles = [planned(full_key, "west/chat-a") for _ in range(40)]

    def run(index):
        try:
            if index < len(batches):
                _settled, failed = recording.write_journaled(batches[index])
                assert failed == []
            else:
                recording.record(singles[index - len(batches)], **SERVED)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(run, range(len(batches) + len(singles))))

    assert UsageRecord.objects.count() == 120
    spent = 120 * Decimal("0.002100")
    assert balance_of(api_key) == Decimal("10.00") - spent
    assert spend_of(api_key) == spent
    assert sum(LedgerEntry.objects.values_list("amount_usd", flat=True)) == Decimal("10.00") - spent
