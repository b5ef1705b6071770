"""Recording a chat request: the usage record, the ledger debit, the balance, the key's month-to-date
spend and the request log, all or nothing: before the answer goes out, or with the usage journal on
(gateway.journal) by the recorder, in batches (``journal_entry``, ``write_journaled``).

``billing.services.usage_record`` is the reference: it locks the billing account, reads the plan
under the lock and writes with the ORM (about fifteen statements). On PostgreSQL the endpoint does
the same in **one statement** (``_RECORD``, a ``WITH`` of updates and inserts, atomic on its own):
priced here with the plan read at admission, and written only if the account is still on that plan
(else nothing is written and the reference path runs instead, pricing under the new plan). The
answer carries the new balance and key spend, so the alerts that depend on them (the low-balance
e-mail, the key's spend alerts) are checked afterwards and cost a query only when one is due.
The recorder writes a batch of journal entries in seven statements for the batch and three round
trips (``_record_many``), with the same effect and answers as ``_RECORD`` run once per entry.
tests/gateway/test_recording.py checks that all three write the same rows.
"""

import dataclasses
import datetime
import functools
import json
import logging
import time
from decimal import Decimal

import psycopg
from asgiref.sync import sync_to_async
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction

from alerts.services import spend_alerts_due, spend_alerts_record
from apikeys.models import ApiKey
from billing import pricing
from billing.models import EntryKind, LedgerEntry, UsageRecord
from billing.services import low_balance_check, month_start, usage_record
from core.ids import new_id
from core.money import from_micros, to_micros

from . import admission as admission_service
from . import database, routing
from . import snapshots as hot
from .models import RequestLog

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Pending:
    """What the request log and the usage record need, gathered as the request goes."""

    api_key: object
    body: dict
    started: float
    generation_id: str = dataclasses.field(default_factory=lambda: new_id("gen"))
    route: routing.Route | None = None
    admission: admission_service.Admission | None = None
    target: routing.Target | None = None
    attempts: int = 0
    # Recorded on the event loop's own connection (``arecord``): the request came in through
    # gateway.asgi on PostgreSQL, outside any transaction of Django's.
    direct: bool = False
    # Journaled (gateway.journal): answered first, written by the recorder. Only with ``direct``.
    journal: bool = False
    # What the request holds once admitted (gateway.admission.Hold), given back on every way out.
    hold: object | None = None
    # Charged: recorded, or its journal entry sent. A request cancelled before that (its client went
    # away) is logged ``client_closed``; one cancelled after it keeps its charge and its log.
    charged: bool = False

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def prompt_bytes(self) -> int:
        return len(json.dumps(self.body.get("messages"), ensure_ascii=False).encode())


@dataclasses.dataclass
class Outcome:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)


def record(pending: Pending, **outcome) -> Outcome:
    """Records what was served, in this thread. The caller settles the reservation afterwards: the
    spend is counted before the hold goes, never neither. ``outcome``: prompt_tokens,
    completion_tokens, status, http_status and error_code."""
    if connection.vendor == "postgresql":
        recorded, parameters = _priced(pending, **outcome)
        with connection.cursor() as cursor:
            cursor.execute(_RECORD, _with_derived(parameters))
            row = cursor.fetchone()
        if row is not None:
            answer = _Answer.of(pending.api_key, pending.generation_id, row, parameters["now"])
            _keep_balance(pending, answer)
            answer.send_alerts()
            return recorded
    return _record_with_services(pending, **outcome)


async def arecord(pending: Pending, **outcome) -> Outcome:
    """``record`` without leaving the event loop: the statement on a connection of the loop's own
    pool. Only what is rare goes to a thread: the reference path, and alerts that are due."""
    try:
        with hot.memory_only():
            recorded, parameters = _priced(pending, **outcome)
    except hot.Miss:  # the catalog's snapshot expired since admission
        return await sync_to_async(record)(pending, **outcome)
    async with (await database.pool()).connection() as conn:
        cursor = await conn.execute(_RECORD, _with_derived(parameters))
        row = await cursor.fetchone()
    if row is None:
        return await sync_to_async(_record_with_services)(pending, **outcome)
    answer = _Answer.of(pending.api_key, pending.generation_id, row, parameters["now"])
    _keep_balance(pending, answer)
    if answer.low_balance_due or answer.spend_alerts_due:
        await sync_to_async(answer.send_alerts)()
    return recorded


# --- Journaled: answered first, written by the recorder (gateway.journal) -----------------------------


def journal_entry(pending: Pending, **outcome) -> tuple[Outcome, dict]:
    """The cost and what the recorder will write, as JSON, priced from this process's snapshots (call
    it inside ``hot.memory_only()``). The entry is charged what the answer says: the plan is not
    checked again when it is written."""
    recorded, parameters = _priced(pending, **outcome)
    parameters["plan"] = None
    for name in ("now", "day", "month"):
        parameters[name] = parameters[name].isoformat()
    return recorded, parameters


# What an entry itself can fail with (a foreign key gone, a value out of range, a malformed entry);
# anything else (the database unreachable) is raised, and the batch is tried again later.
# A ProgrammingError is an entry of another shape (a parameter missing after a deploy); entries set
# aside are not lost: ``recordusage --retry-unwritten`` puts them back.
_UNWRITABLE = (IntegrityError, DataError, ProgrammingError, KeyError, ValueError, TypeError)


def write_journaled(entries: list[dict]) -> tuple[list[str], list[str]]:
    """Writes journal entries (``journal_entry``'s dicts) in one transaction, skipping any already
    written (an entry can come twice if a recorder stopped between its commit and its acknowledgement).
    Returns the generation ids settled (written now or before) and those that could not be written:
    when the batch fails each entry is tried alone, so one bad entry holds up no other.
    PostgreSQL only, on Django's connection; the alerts they call for are sent after the commit."""
    try:
        return _write_batch(entries), []
    except _UNWRITABLE:
        if len(entries) == 1:
            logger.exception("Could not record %s.", entries[0].get("generation"))
            return [], [entries[0].get("generation")]
    done, failed = [], []
    for entry in entries:
        settled, not_written = write_journaled([entry])
        done += settled
        failed += not_written
    return done, failed


def parameters_of(entry: dict) -> dict:
    """A journal entry (``journal_entry``'s JSON) as ``_priced``'s parameters again."""
    return {
        **entry,
        "now": datetime.datetime.fromisoformat(entry["now"]),
        "day": datetime.date.fromisoformat(entry["day"]),
        "month": datetime.date.fromisoformat(entry["month"]),
    }


def _write_batch(entries: list[dict]) -> list[str]:
    ids = [entry["generation"] for entry in entries]
    once = {}
    for entry in entries:
        once.setdefault(entry["generation"], entry)  # an entry twice in one batch is written once
    batch = [parameters_of(entry) for entry in once.values()]
    # In a pipeline: the batch's reads cost one round trip to the database, its writes another and
    # the COMMIT a third, where each statement cost one of its own.
    with transaction.atomic(), connection.wrap_database_errors, connection.connection.pipeline():
        rows, keys = _record_many(batch)
    for parameters, row in zip(batch, rows, strict=True):
        if row is WRITTEN_BEFORE:
            continue
        generation = parameters["generation"]
        if row is None:  # the organization is gone, and its account with it: nothing to charge
            logger.warning("Dropped the usage of %s: its organization is gone.", generation)
            continue
        api_key = keys.get(parameters["key"])
        if api_key is not None:
            _Answer.of(api_key, generation, row, parameters["now"]).send_alerts()
    return ids


# ``_record_many``'s row for an entry whose usage record is there already (an entry can come twice
# if a recorder stopped between its commit and its acknowledgement): nothing is written again.
WRITTEN_BEFORE = "written before"

# The key's columns ``_record_many`` reads besides its spend: what the alerts after it look at.
_KEY_COLUMNS = ("organization_id", "monthly_spend_cap_usd", "alert_thresholds_pct")


def _record_many(batch: list[dict]) -> tuple[list, dict]:
    """What ``_RECORD`` once per parameter set, in order, would write and answer, in statements for the
    whole batch: the batch's organizations, accounts and keys locked and read once (in that order,
    each sorted: two recorders, or a recorder and the ORM's paths, take them in one order), the new
    balances and month-to-date spends worked out here, then one UPDATE per table and one INSERT per
    table. Seven statements for any batch (the three INSERTs are one), where ``_RECORD`` per entry
    cost five writes each and as many new versions of the account's and the key's rows. In a
    pipeline (as ``_write_batch`` runs them) the four reads cost one round trip and the writes one.

    Returns the row each entry answered, in order (``WRITTEN_BEFORE`` for one written already, None
    for one with nothing to charge), and the batch's keys as locked (``ApiKey`` with the columns the
    alerts need, by id)."""
    if not batch:
        return [], {}
    raw = connection.connection
    threshold, raw.prepare_threshold = raw.prepare_threshold, 0
    try:
        # Bound on the server, and prepared: Django's cursors bind on the client, and quoting the
        # batch into the SQL text costs the recorder more than the statements themselves. The
        # caller turns psycopg's errors into Django's (``_write_batch`` wraps its pipeline, which
        # raises the writes' errors only when it ends).
        return _record_many_on(raw, batch)
    finally:
        raw.prepare_threshold = threshold


def _record_many_on(raw, batch: list[dict]) -> tuple[list, dict]:
    # Four reads, each on a cursor of its own: in a pipeline all four are sent before the first
    # answer is read.
    cursors = [psycopg.Cursor(raw) for _ in range(4)]
    written_before, organizations_locked, accounts_read, keys_read = cursors
    written_before.execute(
        "SELECT id FROM billing_usagerecord WHERE id = ANY(%s)",
        [[parameters["generation"] for parameters in batch]],
    )
    organizations = sorted({parameters["organization"] for parameters in batch})
    organizations_locked.execute(
        "SELECT id FROM orgs_organization WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [organizations]
    )
    accounts_read.execute(
        "SELECT organization_id, plan_id, balance_usd, low_balance_threshold_usd, low_balance_alerted"
        " FROM billing_billingaccount WHERE organization_id = ANY(%s)"
        " ORDER BY organization_id FOR NO KEY UPDATE",
        [organizations],
    )
    keys_read.execute(
        "SELECT id, spend_month, spend_month_to_date_usd,"
        " organization_id, monthly_spend_cap_usd, alert_thresholds_pct"  # _KEY_COLUMNS
        " FROM apikeys_apikey WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
        [sorted({parameters["key"] for parameters in batch})],
    )
    already = {id_ for (id_,) in written_before.fetchall()}
    accounts = {organization: _Account(*row) for organization, *row in accounts_read.fetchall()}
    spends, keys = {}, {}
    for key, month, amount, *columns in keys_read.fetchall():
        spends[key] = _Spend(month, amount)
        keys[key] = _locked_key(key, columns)
    for cursor in cursors:
        cursor.close()

    rows, written = [], []
    for parameters in batch:
        if parameters["generation"] in already:
            rows.append(WRITTEN_BEFORE)
            continue
        account = accounts.get(parameters["organization"])
        if account is None or parameters["plan"] not in (None, account.plan):
            rows.append(None)  # as _RECORD: no account on that plan, nothing written
            continue
        account.balance -= parameters["cost"]
        account.moved = True
        spend = spends.get(parameters["key"])
        if spend is not None:
            spend.add(parameters["cost"], parameters["month"])
        amount = spend.amount if spend is not None else None
        rows.append((account.balance, account.low_balance_threshold, account.low_balance_alerted, amount))
        written.append(_with_derived(parameters))
    if not written:
        return rows, keys
    with psycopg.Cursor(raw) as cursor:
        moved = {organization: account for organization, account in accounts.items() if account.moved}
        cursor.execute(
            "UPDATE billing_billingaccount AS account SET balance_usd = batch.balance"
            " FROM unnest(%s::varchar[], %s::bigint[]) AS batch (organization_id, balance)"
            " WHERE account.organization_id = batch.organization_id",
            [list(moved), [account.balance for account in moved.values()]],
        )
        added = {key: spend for key, spend in spends.items() if spend.moved}
        cursor.execute(
            "UPDATE apikeys_apikey AS api_key"
            " SET spend_month = batch.month, spend_month_to_date_usd = batch.amount"
            " FROM unnest(%s::varchar[], %s::date[], %s::bigint[]) AS batch (id, month, amount)"
            " WHERE api_key.id = batch.id",
            [
                list(added),
                [spend.month for spend in added.values()],
                [spend.amount for spend in added.values()],
            ],
        )
        statement, names = _inserted_in_a_batch()
        inserted = [{name: parameters[name] for name in names} for parameters in written]
        cursor.execute(statement, [json.dumps(inserted, default=_iso_format)])
    return rows, keys


def _locked_key(key: str, columns: list) -> ApiKey:
    """The key as ``_record_many`` read it: the columns the alerts look at, the rest deferred."""
    read = dict(zip(_KEY_COLUMNS, columns, strict=True), id=key)
    thresholds = ApiKey._meta.get_field("alert_thresholds_pct")
    read["alert_thresholds_pct"] = thresholds.from_db_value(read["alert_thresholds_pct"], None, connection)
    # from_db takes the values in the model's field order
    names = [field.attname for field in ApiKey._meta.concrete_fields if field.attname in read]
    return ApiKey.from_db(connection.alias, names, [read[name] for name in names])


@dataclasses.dataclass
class _Account:
    """A billing account as ``_record_many`` locked it, and its balance as the batch moves it."""

    plan: str  # the plan's slug
    balance: int  # micro-dollars, as stored
    low_balance_threshold: Decimal | None
    low_balance_alerted: bool
    moved: bool = False


@dataclasses.dataclass
class _Spend:
    """A key's month-to-date spend as ``_record_many`` locked it, moved as ``_RECORD``'s UPDATE moves
    it: a cost of the key's month is added, one of a later month starts that month afresh, and one of
    an earlier month (written late) leaves it as it is."""

    month: datetime.date | None
    amount: int  # micro-dollars, as stored
    moved: bool = False

    def add(self, cost: int, month: datetime.date) -> None:
        if self.month == month:
            self.amount += cost
        elif self.month is None or self.month < month:
            self.month, self.amount = month, cost
        self.moved = True


def _keep_balance(pending: Pending, answer: "_Answer") -> None:
    organization_id = pending.api_key.organization_id
    admission_service.balance_moved(organization_id, pending.admission.view, answer.balance)


def _record_with_services(
    pending: Pending, *, prompt_tokens, completion_tokens, status, http_status, error_code=""
) -> Outcome:
    """The reference path (billing.services.usage_record), for SQLite and when the plan changed."""
    with transaction.atomic():
        usage = usage_record(
            api_key=pending.api_key,
            requested_model=pending.route.requested_model,
            model=pending.target.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            byok=pending.target.byok,
            generation_id=pending.generation_id,
        )
        recorded = Outcome(prompt_tokens, completion_tokens, usage.cost_usd)
        log(pending, status=status, http_status=http_status, error_code=error_code, outcome=recorded)
    return recorded


def log(pending: Pending, *, status, http_status, error_code="", outcome: Outcome | None = None) -> None:
    """The request log of a request that was refused or failed (nothing to bill), or of one whose
    usage the caller records in the same transaction."""
    RequestLog.objects.create(**_log_fields(pending, status, http_status, error_code, outcome or Outcome()))


def _log_fields(pending, status, http_status, error_code, outcome: Outcome) -> dict:
    target = pending.target
    return {
        "id": pending.generation_id,
        "organization_id": pending.api_key.organization_id,
        "api_key_id": pending.api_key.pk,
        "requested_model": str(pending.body.get("model", ""))[:128],
        "model": target.model if target else "",
        "provider": target.provider if target else "",
        "tier": pending.route.tier if pending.route else "",
        "stream": pending.stream,
        "status": status,
        "http_status": http_status,
        "error_code": error_code,
        "attempts": pending.attempts,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "cost_usd": outcome.cost,
        "latency_ms": int((time.monotonic() - pending.started) * 1000),
    }


# What is inserted, column by column, from which of ``_priced``'s parameters (``_with_derived``'s).
_INSERTED = {
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
    RequestLog: {
        "id": "generation",
        "organization_id": "organization",
        "api_key_id": "key",
        "created_at": "now",
        "requested_model": "log_requested_model",
        "model": "model",
        "provider": "provider",
        "tier": "tier",
        "stream": "stream",
        "status": "status",
        "http_status": "http_status",
        "error_code": "error_code",
        "attempts": "attempts",
        "prompt_tokens": "prompt_tokens",
        "completion_tokens": "completion_tokens",
        "cost_usd": "cost",
        "latency_ms": "latency_ms",
    },
}


def _with_derived(parameters: dict) -> dict:
    """``_priced``'s parameters with what the inserts derive from them (a journal entry has only
    ``_priced``'s)."""
    return {**parameters, "debit": -parameters["cost"], "nobody": None}


@functools.cache
def _inserted_in_a_batch() -> tuple[str, tuple[str, ...]]:
    """``_record_many``'s INSERTs as one statement for the three tables, and the parameters it reads.
    The batch comes as one JSON array of parameter sets (``json_to_recordset``, each parameter typed
    as its column): that costs the recorder one ``json.dumps``, where an array per column cost a
    conversion of every value in Python (a third of the recorder's time in a profile)."""
    typed = {}
    for model, columns in _INSERTED.items():
        fields = {field.column: field for field in model._meta.concrete_fields}
        for column, name in columns.items():
            # The column's type less its length: an assignment to varchar(n) refuses a longer value
            # (as _RECORD's INSERT does), where a cast would cut it.
            kind = fields[column].db_type(connection).split("(")[0]
            typed.setdefault(name, "text" if kind == "varchar" else kind)
    # Names from the models and _INSERTED, never from input; the parameters quoted ("now", "user").
    record = ", ".join(f'"{name}" {kind}' for name, kind in typed.items())
    inserts = []
    for model, columns in _INSERTED.items():
        table, selected = model._meta.db_table, ", ".join(f'"{name}"' for name in columns.values())
        inserts.append(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} FROM batch")  # noqa: S608
    *first, last = inserts
    steps = "".join(f", insert{index} AS ({insert})" for index, insert in enumerate(first))
    batch = f"SELECT * FROM json_to_recordset(%s::json) AS batch ({record})"  # noqa: S608
    return f"WITH batch AS MATERIALIZED ({batch}){steps} {last}", tuple(typed)


def _iso_format(value):
    """``json.dumps``'s default for the batch: a date or datetime (``parameters_of``'s) as ISO."""
    if isinstance(value, datetime.date):  # a datetime too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _inserted_for_the_account(model) -> str:
    columns = _INSERTED[model]
    values = ", ".join(f"%({name})s" for name in columns.values())
    table = model._meta.db_table  # names from the models, never from input
    return f"INSERT INTO {table} ({', '.join(columns)})\n    SELECT {values} FROM account"  # noqa: S608


# The account is debited only while it is on the plan the cost was priced under (unless ``plan`` is
# NULL: a journaled request is charged what its answer said, see gateway.journal); every other write
# reads the account's RETURNING row, so without it nothing is written and the statement returns no row.
# Locks are taken in the order the ORM paths take them: the organization (a key share, as the inserts'
# foreign keys would take it anyway, but first: the member services lock it before the keys), then
# the account, then the key.
# Table and column names are the models' (checked by the test of this module).
_RECORD = f"""
WITH organization AS (
    SELECT id FROM orgs_organization WHERE id = %(organization)s FOR KEY SHARE
), account AS (
    UPDATE billing_billingaccount SET balance_usd = balance_usd - %(cost)s
    WHERE organization_id = (SELECT id FROM organization) AND plan_id = COALESCE(%(plan)s, plan_id)
    RETURNING balance_usd, low_balance_threshold_usd, low_balance_alerted
), usage AS (
    {_inserted_for_the_account(UsageRecord)}
), entry AS (
    {_inserted_for_the_account(LedgerEntry)}
), request_log AS (
    {_inserted_for_the_account(RequestLog)}
), spend AS (
    UPDATE apikeys_apikey SET
        spend_month_to_date_usd = CASE WHEN spend_month = %(month)s
            THEN spend_month_to_date_usd + %(cost)s
            WHEN spend_month > %(month)s THEN spend_month_to_date_usd ELSE %(cost)s END,
        spend_month = GREATEST(spend_month, %(month)s)
    WHERE id = %(key)s AND EXISTS (SELECT 1 FROM account)
    RETURNING spend_month_to_date_usd
)
SELECT account.balance_usd, account.low_balance_threshold_usd, account.low_balance_alerted,
    spend.spend_month_to_date_usd
FROM account LEFT JOIN spend ON true
"""  # noqa: S608 - the inserted names are the models' (_INSERTED)


def _priced(
    pending: Pending, *, prompt_tokens, completion_tokens, status, http_status, error_code=""
) -> tuple[Outcome, dict]:
    """The cost under the plan admission saw, and ``_RECORD``'s parameters."""
    api_key, target, route = pending.api_key, pending.target, pending.route
    plan = pending.admission.plan
    tier = pricing.tier_for(route.requested_model, byok=target.byok)
    cost = pricing.cost(
        plan=plan,
        tier=tier,
        model=target.model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        list_prices=routing.catalog().prices,
    )
    recorded = Outcome(prompt_tokens, completion_tokens, cost)
    now = datetime.datetime.now(datetime.UTC)
    fields = _log_fields(pending, status, http_status, error_code, recorded)
    parameters = {
        "cost": to_micros(cost),
        "organization": api_key.organization_id,
        "plan": plan.pk,
        "generation": pending.generation_id,
        "key": api_key.pk,
        "user": api_key.created_by_id,
        "requested_model": route.requested_model,
        "log_requested_model": fields["requested_model"],
        "model": target.model,
        "tier": tier,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "now": now,
        "day": now.date(),
        "entry": new_id("txn"),
        "kind": EntryKind.USAGE.value,
        "description": f"{target.model} ({tier})"[:255],
        "provider": fields["provider"],
        "stream": fields["stream"],
        "status": status,
        "http_status": http_status,
        "error_code": error_code,
        "attempts": pending.attempts,
        "latency_ms": fields["latency_ms"],
        "month": month_start(now),
    }
    return recorded, parameters


@dataclasses.dataclass(frozen=True)
class _Answer:
    """``_RECORD``'s row: the account and the key as the recording left them."""

    api_key: object
    generation_id: str
    balance: Decimal
    low_balance_threshold: Decimal | None
    low_balance_alerted: bool
    spend: Decimal
    now: datetime.datetime

    @classmethod
    def of(cls, api_key, generation_id: str, row, now: datetime.datetime) -> "_Answer":
        return cls(api_key, generation_id, from_micros(row[0]), row[1], row[2], from_micros(row[3]), now)

    @property
    def low_balance_due(self) -> bool:
        """The balance crossed the low-balance line, either way, since the last e-mail."""
        threshold = self.low_balance_threshold
        return threshold is not None and (self.balance < threshold) != self.low_balance_alerted

    @property
    def spend_alerts_due(self) -> bool:
        return spend_alerts_due(api_key=self.api_key, spend=self.spend)

    def send_alerts(self) -> None:
        """What the new balance and spend call for. The usage is committed already: a failure here is
        logged, never turned into an error answer."""
        api_key = self.api_key
        try:
            if self.low_balance_due:
                low_balance_check(organization_id=api_key.organization_id)
            if self.spend_alerts_due:
                with transaction.atomic():
                    month = month_start(self.now)
                    spend_alerts_record(api_key=api_key, spend=self.spend, month=month, now=self.now)
        except Exception:
            logger.exception("Alerts after recording %s failed.", self.generation_id)
