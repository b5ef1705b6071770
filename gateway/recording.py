"""Recording a chat request: its charge (billing.charges: the usage record, the ledger debit, the
balance, the key's month-to-date spend) and its request log, all or nothing: before the answer goes
out, or with the usage journal on (gateway.journal) by the recorder, in batches (``journal_entry``,
``write_journaled``).

On PostgreSQL the charge and its log are one statement (billing.charges, ``CHARGES``), priced here
with the plan read at admission and written only if the account is still on that plan (else nothing
is written and ``billing.services.usage_record``, the reference path, runs instead, pricing under
the new plan); on SQLite the reference path. The statement's answer carries the new balance and key
spend, so the alerts that depend on them are checked afterwards and cost a query only when one is due.
gateway/ARCHITECTURE.md has the map.
"""

import dataclasses
import datetime
import json
import logging
import time
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction

from billing import charges, pricing
from billing.services import usage_record
from core.ids import new_id

from . import admission as admission_service
from . import database, routing, snapshots
from .models import RequestLog

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ChatRequest:
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
    on_loop_connection: bool = False
    # Journaled (gateway.journal): answered first, written by the recorder. Only with ``on_loop_connection``.
    journaled: bool = False
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
class Metered:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)


def record(pending: ChatRequest, **outcome) -> Metered:
    """Records what was served, in this thread. The caller settles the reservation afterwards: the
    spend is counted before the hold goes, never neither. ``outcome``: prompt_tokens,
    completion_tokens, status, http_status and error_code."""
    if connection.vendor == "postgresql":
        recorded, parameters = _priced(pending, **outcome)
        (charge,) = charges.charges_write(CHARGES, [parameters])
        if charge is not None:
            _keep_balance(pending, charge)
            charges.charge_alerts_send(charge, api_key=pending.api_key, logger=logger)
            return recorded
    return record_with_the_orm(pending, **outcome)


async def arecord(pending: ChatRequest, **outcome) -> Metered:
    """``record`` without leaving the event loop: the statement on a connection of the loop's own
    pool. Only what is rare goes to a thread: the reference path, and alerts that are due."""
    try:
        with snapshots.memory_only():
            recorded, parameters = _priced(pending, **outcome)
    except snapshots.Miss:  # the catalog's snapshot expired since admission
        return await sync_to_async(record)(pending, **outcome)
    async with (await database.pool()).connection() as conn:
        (charge,) = await charges.acharges_write(CHARGES, conn, [parameters])
    if charge is None:
        return await sync_to_async(record_with_the_orm)(pending, **outcome)
    _keep_balance(pending, charge)
    if charge.alerts_due(pending.api_key):
        await sync_to_async(charges.charge_alerts_send)(charge, api_key=pending.api_key, logger=logger)
    return recorded


# --- Journaled: answered first, written by the recorder (gateway.journal) -----------------------------


def journal_entry(pending: ChatRequest, **outcome) -> tuple[Metered, dict]:
    """The cost and what the recorder will write, as JSON, priced from this process's snapshots (call
    it inside ``snapshots.memory_only()``). The entry is charged what the answer says: the plan is not
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
    """Writes journal entries (``journal_entry``'s dicts) in one statement (billing.charges),
    skipping any already written (an entry can come twice if a recorder stopped between its commit
    and its acknowledgement). Returns the generation ids settled (written now or before) and those
    that could not be written: when the batch fails each entry is tried alone, so one bad entry holds
    up no other. PostgreSQL only, on Django's connection; the alerts they call for are sent after."""
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
    return charges.parameters_of(entry)


def _write_batch(entries: list[dict]) -> list[str]:
    ids = [entry["generation"] for entry in entries]
    once = {}
    for entry in entries:
        once.setdefault(entry["generation"], entry)  # an entry twice in one batch is written once
    batch = [parameters_of(entry) for entry in once.values()]
    for parameters, charge in zip(batch, charges.charges_write(CHARGES, batch), strict=True):
        if charge is None:  # the organization is gone, and its account with it: nothing to charge
            logger.warning("Dropped the usage of %s: its organization is gone.", parameters["generation"])
        elif charge is not charges.WRITTEN_BEFORE:
            charges.charge_alerts_send(charge, logger=logger)
    return ids


def _keep_balance(pending: ChatRequest, charge: charges.Charge) -> None:
    organization_id = pending.api_key.organization_id
    admission_service.balance_moved(organization_id, pending.admission.view, charge.balance)


def record_with_the_orm(
    pending: ChatRequest, *, prompt_tokens, completion_tokens, status, http_status, error_code=""
) -> Metered:
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
        recorded = Metered(prompt_tokens, completion_tokens, usage.cost_usd)
        log(pending, status=status, http_status=http_status, error_code=error_code, outcome=recorded)
    return recorded


def log(pending: ChatRequest, *, status, http_status, error_code="", outcome: Metered | None = None) -> None:
    """The request log of a request that was refused or failed (nothing to bill), or of one whose
    usage the caller records in the same transaction."""
    RequestLog.objects.create(**_log_fields(pending, status, http_status, error_code, outcome or Metered()))


def _log_fields(pending, status, http_status, error_code, outcome: Metered) -> dict:
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


# What the chat endpoint inserts with each charge (billing.charges), column by column, from which of
# ``_priced``'s parameters: the request log.
REQUEST_LOG_INSERTED = {
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

# The charge and its request log, in one statement.
CHARGES = charges.Charges(also_inserted=REQUEST_LOG_INSERTED)


def _priced(
    pending: ChatRequest, *, prompt_tokens, completion_tokens, status, http_status, error_code=""
) -> tuple[Metered, dict]:
    """The cost under the plan admission saw, and the charge's parameters with its request log's."""
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
    recorded = Metered(prompt_tokens, completion_tokens, cost)
    now = datetime.datetime.now(datetime.UTC)
    fields = _log_fields(pending, status, http_status, error_code, recorded)
    parameters = charges.charge_parameters(
        api_key=api_key,
        plan=plan.pk,
        generation=pending.generation_id,
        requested_model=route.requested_model,
        model=target.model,
        tier=tier,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost,
        now=now,
    )
    parameters.update(
        log_requested_model=fields["requested_model"],
        provider=fields["provider"],
        stream=fields["stream"],
        status=status,
        http_status=http_status,
        error_code=error_code,
        attempts=pending.attempts,
        latency_ms=fields["latency_ms"],
    )
    return recorded, parameters
