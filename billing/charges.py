"""Charges on PostgreSQL: the one writer of a charge, for a batch of any size in one statement.

A charge is what ``billing.services.usage_record`` writes (the usage record, the ledger debit, the
balance, the key's month-to-date spend), priced beforehand by the caller (``charge_parameters``). The
statement (``Charges``) takes a batch of charges as one JSON array; one charge is a batch of one, so
the chat endpoint's charge before its answer and the recorder's batch of journal entries are the same
statement, one round trip, prepared: ``charges_write`` on Django's connection, ``acharges_write`` on
one of the event loop's (gateway.database). Anything else a caller writes with each charge (the
gateway's request log) is inserted by the same statement (``Charges(also_inserted=...)``).

In the statement: the batch's organizations are locked (a key share), then their accounts are
debited, then the keys charged are locked, each in id order (the order the ORM paths take them); an
entry whose usage record is there already is skipped (an entry can come twice); an entry priced
under a plan (``plan``) is charged only while its account is still on that plan (None: charge what
was priced, whatever the plan); each account is debited its entries' total, each key's spend moved
by core.months' rule. It answers the accounts as debited and the keys as locked, and
``charges_write`` replays the batch on them in order, so each charge gets the balance and spend it
left (for the low-balance line and the spend alerts, checked afterwards: ``charge_alerts_send``).
``usage_record`` stays the reference and the SQLite path; tests/billing/test_charges.py runs the
same charges through both and compares what they leave.
"""

import dataclasses
import datetime
import functools
import json
import time
from decimal import Decimal

import psycopg
from django.db import connection, transaction

from alerts.services import spend_alerts_due, spend_alerts_record
from apikeys.models import ApiKey
from core.ids import new_id
from core.money import from_micros, to_micros
from core.months import SPEND_AMOUNT_SQL, SPEND_MONTH_SQL, month_start, spend_add

from .models import EntryKind, LedgerEntry, UsageRecord
from .services import low_balance_check, low_balance_crossed

# An entry's answer when its usage record is there already: nothing is written again.
WRITTEN_BEFORE = "written before"

# What a charge inserts, column by column, from which of its parameters.
CHARGE_INSERTED = {
    UsageRecord: {
        "id": "generation",
        "organization_id": "organization",
        "api_key_id": "key",
        "user_id": "user",
        "requested_model": "requested_model",
        "model": "model",
        "tier": "tier",
        "prompt_tokens": "prompt_tokens",
        "completion_tokens": "completion_tokens",
        "cost_usd": "cost",
        "created_at": "now",
        "day": "day",
    },
    LedgerEntry: {
        "id": "entry",
        "organization_id": "organization",
        "kind": "kind",
        "amount_usd": "debit",
        "reference": "generation",
        "description": "description",
        "created_by_id": "nobody",
        "created_at": "now",
    },
}

# The key's columns read with its spend: what the spend alerts look at.
_KEY_COLUMNS = ("organization_id", "monthly_spend_cap_usd", "alert_thresholds_pct")


def charge_parameters(
    *,
    api_key: ApiKey,
    plan: str | None,
    generation: str,
    requested_model: str,
    model: str,
    tier: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: Decimal,
    now: datetime.datetime,
) -> dict:
    """A charge as the statement takes it (JSON-ready but for ``now``, ``day`` and ``month``; see
    ``parameters_of``). ``plan``: the plan it was priced under, or None to charge it whatever the plan."""
    return {
        "cost": to_micros(cost),
        "organization": api_key.organization_id,
        "plan": plan,
        "generation": generation,
        "key": api_key.pk,
        "user": api_key.created_by_id,
        "requested_model": requested_model,
        "model": model,
        "tier": tier,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "now": now,
        "day": now.astimezone(datetime.UTC).date(),
        "month": month_start(now),
        "entry": new_id("txn"),
        "kind": EntryKind.USAGE.value,
        "description": f"{model} ({tier})"[:255],
    }


def parameters_of(entry: dict) -> dict:
    """A charge's parameters from their JSON (``now``, ``day`` and ``month`` as ISO strings) again."""
    return {
        **entry,
        "now": datetime.datetime.fromisoformat(entry["now"]),
        "day": datetime.date.fromisoformat(entry["day"]),
        "month": datetime.date.fromisoformat(entry["month"]),
    }


@dataclasses.dataclass(frozen=True)
class Charge:
    """What one charge left: the account's balance and low-balance state, the key's month and spend
    (None if the key is gone), and the key as locked (the columns the spend alerts look at)."""

    generation: str
    organization_id: str
    balance: Decimal
    low_balance_threshold: Decimal | None
    low_balance_alerted: bool
    month: datetime.date | None
    spend: Decimal | None
    locked_key: "LockedKey | None"
    now: datetime.datetime

    @property
    def api_key(self) -> ApiKey | None:
        return self.locked_key.api_key if self.locked_key is not None else None

    @property
    def low_balance_due(self) -> bool:
        return low_balance_crossed(
            balance=self.balance, threshold=self.low_balance_threshold, alerted=self.low_balance_alerted
        )

    def spend_alerts_due(self, api_key: ApiKey | None = None) -> bool:
        api_key = api_key or self.api_key
        return (
            api_key is not None
            and self.spend is not None
            and spend_alerts_due(api_key=api_key, spend=self.spend)
        )

    def alerts_due(self, api_key: ApiKey | None = None) -> bool:
        return self.low_balance_due or self.spend_alerts_due(api_key)


@dataclasses.dataclass(frozen=True)
class LockedKey:
    """A key as the statement read it (``_KEY_COLUMNS``), made an ``ApiKey`` only when an alert
    needs one, and once for all of a batch's charges of that key."""

    key_id: str
    columns: tuple

    @functools.cached_property
    def api_key(self) -> ApiKey:
        """The columns the alerts look at, the rest deferred."""
        read = dict(zip(_KEY_COLUMNS, self.columns, strict=True), id=self.key_id)
        thresholds = ApiKey._meta.get_field("alert_thresholds_pct")
        read["alert_thresholds_pct"] = thresholds.from_db_value(
            read["alert_thresholds_pct"], None, connection
        )
        # from_db takes the values in the model's field order
        names = [field.attname for field in ApiKey._meta.concrete_fields if field.attname in read]
        return ApiKey.from_db(connection.alias, names, [read[name] for name in names])


def charge_alerts_send(charge: Charge, *, api_key: ApiKey | None = None, logger=None) -> None:
    """What the charge's balance and spend call for: the low-balance e-mail, the key's spend alerts.
    The charge is committed already: a failure here is logged, never raised. ``api_key``: the key
    as the caller holds it (else the columns the statement read)."""
    api_key = api_key or charge.api_key
    try:
        if charge.low_balance_due:
            low_balance_check(organization_id=charge.organization_id)
        if charge.spend_alerts_due(api_key):
            with transaction.atomic():
                spend_alerts_record(api_key=api_key, spend=charge.spend, month=charge.month, now=charge.now)
    except Exception:
        if logger is None:
            raise
        logger.exception("Alerts after charging %s failed.", charge.generation)


class Charges:
    """The statement for a batch of charges, with what else each charge inserts: ``also_inserted``,
    {model: {column: parameter}} (the parameters ride in each charge's dict)."""

    def __init__(self, also_inserted: dict | None = None):
        self.inserted = {**CHARGE_INSERTED, **(also_inserted or {})}

    @functools.cached_property
    def statement(self) -> str:
        return _statement(self.inserted)

    def sent(self, batch: list[dict]) -> list:
        """The statement's parameters: the batch as a JSON array, each charge with what the inserts
        derive from it; then the ids again as arrays, for the lookups by primary key (the planner
        knows an array's length, where it takes a JSON array for a hundred rows and scans tables)."""
        sent = [_with_derived(index, charge) for index, charge in enumerate(batch)]
        return [
            json.dumps(sent, default=_iso),
            [charge["generation"] for charge in batch],
            sorted({charge["organization"] for charge in batch}),
            sorted({charge["key"] for charge in batch}),
        ]


def charges_write(charges: Charges, batch: list[dict]) -> list:
    """Writes ``batch`` (``charge_parameters``' dicts, with what ``charges`` also inserts) on Django's
    connection, in one statement: atomic on its own, or part of the transaction it runs in. Returns
    each entry's answer, in order: a ``Charge``, ``WRITTEN_BEFORE``, or None when nothing was charged
    (the account is gone, or no longer on the plan the entry was priced under)."""
    if not batch:
        return []
    connection.ensure_connection()
    raw = connection.connection
    # Bound on the server and prepared at once: Django's cursors bind on the client, and quoting a
    # batch into the SQL text costs more than the statement.
    threshold, raw.prepare_threshold = raw.prepare_threshold, 0
    started = time.monotonic()
    try:
        with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            cursor.execute(charges.statement, charges.sent(batch))
            rows = cursor.fetchall()
    finally:
        raw.prepare_threshold = threshold
        if connection.queries_logged:  # counted as Django's own cursors count theirs (tests, DEBUG)
            elapsed = time.monotonic() - started
            connection.queries_log.append({"sql": charges.statement, "time": f"{elapsed:.3f}"})
    return _replayed(batch, rows)


async def acharges_write(charges: Charges, conn, batch: list[dict]) -> list:
    """``charges_write`` on a connection of the event loop's pool (psycopg's ``AsyncConnection``)."""
    cursor = await conn.execute(charges.statement, charges.sent(batch))
    return _replayed(batch, await cursor.fetchall())


def _replayed(batch: list[dict], rows: list) -> list:
    """Each entry's answer: the batch replayed, in order, on the rows as the statement left them: the
    accounts debited (their balances before the batch, the debited balance plus what was charged),
    the keys as locked before their spend moved."""
    balances, spends, locked_keys, answers = {}, {}, {}, []
    for charge, row in zip(batch, rows, strict=True):
        if row[2]:  # charged: the balance before the batch is the debited one plus every charge
            organization = charge["organization"]
            balances[organization] = balances.get(organization, row[3]) + charge["cost"]
    for charge, row in zip(batch, rows, strict=True):
        written_before, charged, balance, threshold, alerted, month, spend, *key_columns = row[1:]
        if written_before:
            answers.append(WRITTEN_BEFORE)
            continue
        if not charged:
            answers.append(None)
            continue
        organization, key = charge["organization"], charge["key"]
        balance = balances[organization] = balances[organization] - charge["cost"]
        if key_columns[0] is None:  # the key is gone: no spend to move
            month = spend = None
        else:
            if key not in locked_keys:
                locked_keys[key] = LockedKey(key, tuple(key_columns))
            month, spend = spends.get(key, (month, spend))
            month, spend = spends[key] = spend_add(
                month=month, amount=spend, cost=charge["cost"], cost_month=charge["month"]
            )
        answers.append(
            Charge(
                generation=charge["generation"],
                organization_id=organization,
                balance=from_micros(balance),
                low_balance_threshold=threshold,
                low_balance_alerted=alerted,
                month=month,
                spend=from_micros(spend) if spend is not None else None,
                locked_key=locked_keys.get(key),
                now=charge["now"],
            )
        )
    return answers


def _with_derived(index: int, charge: dict) -> dict:
    """A charge with its place in the batch and what the inserts derive from it."""
    return {**charge, "position": index, "debit": -charge["cost"], "nobody": None}


def _iso(value):
    """``json.dumps``'s default for a batch: a date or datetime as ISO."""
    if isinstance(value, datetime.date):  # a datetime too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _statement(inserted: dict) -> str:
    """The batch statement (see the module's docstring), for the tables and columns of ``inserted``.
    The batch comes as one JSON array (``json_to_recordset``, each parameter typed as its column):
    one ``json.dumps`` for the caller, where a parameter per value cost a conversion of each."""
    typed = {"position": "integer", "plan": "text", "month": "date"}
    for model, columns in inserted.items():
        fields = {field.column: field for field in model._meta.concrete_fields}
        for column, name in columns.items():
            # The column's type less its length: an assignment to varchar(n) refuses a longer value,
            # where a cast would cut it.
            kind = fields[column].db_type(connection).split("(")[0]
            typed.setdefault(name, "text" if kind == "varchar" else kind)
    # Names from the models and the mappings, never from input; the parameters quoted ("now", "user").
    record = ", ".join(f'"{name}" {kind}' for name, kind in typed.items())
    inserts = []
    for index, (model, columns) in enumerate(inserted.items()):
        table, selected = model._meta.db_table, ", ".join(f'"{name}"' for name in columns.values())
        inserts.append(
            f"insert{index} AS (INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} FROM charged)"  # noqa: S608
        )
    spend_month = SPEND_MONTH_SQL.format(month="locked.spend_month", cost_month="latest.month")
    spend_amount = SPEND_AMOUNT_SQL.format(
        month="locked.spend_month",
        amount="locked.spend_month_to_date_usd",
        cost="latest.cost",
        cost_month="latest.month",
    )
    key_columns = ", ".join(f"api_keys.{name}" for name in _KEY_COLUMNS)
    return f"""
WITH batch AS MATERIALIZED (
    SELECT * FROM json_to_recordset(%s::json) AS batch ({record})
), written_before AS MATERIALIZED (
    SELECT id FROM billing_usagerecord WHERE id = ANY(%s::text[])
), organizations AS MATERIALIZED (
    SELECT id FROM orgs_organization WHERE id = ANY(%s::text[]) ORDER BY id FOR KEY SHARE
), fresh AS MATERIALIZED (
    SELECT * FROM batch WHERE generation NOT IN (SELECT id FROM written_before)
), accounts AS (
    UPDATE billing_billingaccount AS account SET balance_usd = account.balance_usd - (
        SELECT sum(cost) FROM fresh
        WHERE fresh.organization = account.organization_id
            AND (fresh.plan IS NULL OR fresh.plan = account.plan_id)
    )
    WHERE account.organization_id = ANY(ARRAY(SELECT id FROM organizations)) AND EXISTS (
        SELECT FROM fresh
        WHERE fresh.organization = account.organization_id
            AND (fresh.plan IS NULL OR fresh.plan = account.plan_id)
    )
    RETURNING organization_id, plan_id, balance_usd, low_balance_threshold_usd, low_balance_alerted
), charged AS MATERIALIZED (
    SELECT fresh.* FROM fresh JOIN accounts ON accounts.organization_id = fresh.organization
    WHERE fresh.plan IS NULL OR fresh.plan = accounts.plan_id
), api_keys AS MATERIALIZED (
    SELECT id, spend_month, spend_month_to_date_usd, {", ".join(_KEY_COLUMNS)}
    FROM apikeys_apikey WHERE id = ANY(%s::text[]) AND EXISTS (SELECT FROM charged)
    ORDER BY id FOR NO KEY UPDATE
), latest AS (
    SELECT key, month, sum(cost) AS cost FROM charged
    WHERE (key, month) IN (SELECT key, max(month) FROM charged GROUP BY key)
    GROUP BY key, month
), spent AS (
    UPDATE apikeys_apikey AS api_key SET spend_month = {spend_month}, spend_month_to_date_usd = {spend_amount}
    FROM api_keys AS locked, latest
    WHERE api_key.id = ANY(ARRAY(SELECT key FROM latest))
        AND api_key.id = locked.id AND latest.key = locked.id
), {", ".join(inserts)}
SELECT batch.position, batch.generation IN (SELECT id FROM written_before), charged.position IS NOT NULL,
    accounts.balance_usd, accounts.low_balance_threshold_usd, accounts.low_balance_alerted,
    api_keys.spend_month, api_keys.spend_month_to_date_usd, {key_columns}
FROM batch
    LEFT JOIN charged ON charged.position = batch.position
    LEFT JOIN accounts ON accounts.organization_id = charged.organization
    LEFT JOIN api_keys ON api_keys.id = charged.key
ORDER BY batch.position
"""  # noqa: S608 - the names are the models' and the mappings', never input
