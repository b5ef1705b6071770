"""The usage journal (gateway.journal): with ``NEXEVO_USAGE_JOURNAL`` on, a non-stream completion that
comes in through the ASGI door is answered before anything is written; one Redis call after the answer
journals it and settles its hold on the cap; the recorder (``journal.drain_all``, ``manage.py
recordusage``, the Celery task) writes it, once, and sets aside what it cannot write. PostgreSQL and
Redis only: the journal is theirs."""

import functools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from io import StringIO

import pytest
import redis as redis_py
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone

from apikeys.models import ApiKey
from billing.models import BillingAccount, LedgerEntry, UsageRecord
from core.errors import NotFound, ServiceUnavailable
from core.ids import new_id
from core.money import to_micros
from feedback.models import Feedback
from feedback.services import feedback_submit
from gateway import journal, recording
from gateway.models import RequestLog
from gateway.spend_counters import counter_key, month, spend_in_flight
from gateway.tasks import record_usage

from .conftest import hello
from .test_asgi_door import chat

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql" or not django_settings.REDIS_URL,
    reason="needs PostgreSQL and Redis: the usage journal is theirs",
)


# The tests' Redis server, whatever a test points REDIS_URL at meanwhile.
TEST_REDIS_URL = django_settings.REDIS_URL


@functools.cache
def redis():
    return redis_py.Redis.from_url(TEST_REDIS_URL)


def journal_keys() -> list[str]:
    return [journal.STREAM, journal.UNWRITTEN, *redis().scan_iter(match=journal.unrecorded_key("*"))]


def markers() -> list[bytes]:
    return list(redis().scan_iter(match=journal.unrecorded_key("*")))


def stream_entries(name: str = journal.STREAM) -> list[dict]:
    return [json.loads(fields[b"entry"]) for _id, fields in redis().xrange(name)]


def stream_length(name: str = journal.STREAM) -> int:
    return redis().xlen(name)


def marked(generation: str) -> bool:
    return bool(redis().exists(journal.unrecorded_key(generation)))


@pytest.fixture(autouse=True)
def _journal_clean():
    """No journal, set-aside entries or markers left from another test, and none left behind."""
    redis().delete(*journal_keys())
    yield
    redis().delete(*journal_keys())


@pytest.fixture
def journaled(settings):
    """The journal on, and snapshots that stay for the whole test (as test_asgi_door's ``warm``)."""
    settings.NEXEVO_HOT_CACHE_SECONDS = 60
    settings.NEXEVO_USAGE_JOURNAL = True
    return settings


def balance_of(api_key) -> Decimal:
    return BillingAccount.objects.get(organization_id=api_key.organization_id).balance_usd


def spend_of(api_key) -> Decimal:
    return ApiKey.objects.get(pk=api_key.pk).month_to_date_spend()


def nothing_written(generation: str) -> bool:
    return not (
        UsageRecord.objects.filter(pk=generation).exists()
        or RequestLog.objects.filter(pk=generation).exists()
        or LedgerEntry.objects.filter(reference=generation).exists()
    )


def answered(full_key: str, model: str = "west/chat-a") -> tuple[str, Decimal]:
    """A journaled completion through the ASGI door: (its generation id, the cost it answered)."""
    answer = chat(full_key, hello(model))
    assert answer.status == 200, answer.body
    block = answer.json()["nexevo"]
    assert answer.headers["x-nexevo-generation-id"] == block["generation_id"]
    return block["generation_id"], Decimal(block["cost_usd"])


# --- Answered first, written by the recorder ------------------------------------------------------------


def test_a_completion_is_answered_first_and_written_by_the_recorder(transactional_db, funded, journaled):
    api_key, full_key = funded
    balance_before, spend_before = balance_of(api_key), spend_of(api_key)

    answer = chat(full_key, hello("west/chat-a"))

    assert answer.status == 200
    body = answer.json()
    assert body["choices"][0]["message"]["content"] == "word0 word1 word2 word3 word4"
    generation = body["nexevo"]["generation_id"]
    assert answer.headers["x-nexevo-generation-id"] == generation
    assert (body["nexevo"]["tier"], body["nexevo"]["model"]) == ("passthrough", "west/chat-a")
    cost = Decimal(body["nexevo"]["cost_usd"])
    assert cost == Decimal("0.000014")  # 3 + 5 tokens at the test catalog's price, plus 5%
    # Answered, and nothing written yet: the journal holds it, and its marker says so.
    assert nothing_written(generation)
    assert (balance_of(api_key), spend_of(api_key)) == (balance_before, spend_before)
    [entry] = stream_entries()
    assert (entry["generation"], entry["key"], entry["organization"]) == (
        generation,
        api_key.pk,
        api_key.organization_id,
    )
    assert (entry["cost"], entry["plan"], entry["prompt_tokens"], entry["completion_tokens"]) == (
        to_micros(cost),
        None,
        3,
        5,
    )
    assert marked(generation)
    assert 0 < redis().ttl(journal.unrecorded_key(generation)) <= journal.UNRECORDED_SECONDS
    assert journal.unrecorded(generation)

    assert journal.drain_all(consumer="test") == 1

    record = UsageRecord.objects.get(pk=generation)
    assert (record.api_key_id, record.prompt_tokens, record.completion_tokens, record.cost_usd) == (
        api_key.pk,
        3,
        5,
        cost,
    )
    assert (record.model, record.tier) == ("west/chat-a", "passthrough")
    [debit] = LedgerEntry.objects.filter(reference=generation)
    assert debit.amount_usd == -cost
    log = RequestLog.objects.get(pk=generation)
    assert (log.status, log.http_status, log.stream, log.cost_usd, log.api_key_id) == (
        "completed",
        200,
        False,
        cost,
        api_key.pk,
    )
    assert balance_of(api_key) == balance_before - cost
    assert spend_of(api_key) == spend_before + cost
    assert not marked(generation)
    assert not journal.unrecorded(generation)
    assert stream_length() == 0
    assert stream_length(journal.UNWRITTEN) == 0
    assert journal.drain_all(consumer="test") == 0  # nothing left


def test_the_append_settles_the_hold_on_the_cap(transactional_db, funded, journaled):
    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("5.00"))

    generation, cost = answered(full_key)

    assert nothing_written(generation)
    # The worst case was held on admission; the append brought the counter down to the real cost,
    # which the database has not got yet: the counter holds it for the cap meanwhile.
    counter = redis().get(counter_key(api_key, month(timezone.now())))
    assert int(counter) == to_micros(cost)
    assert spend_in_flight(api_key) == cost
    assert marked(generation)

    journal.drain_all(consumer="test")

    assert UsageRecord.objects.get(pk=generation).cost_usd == cost
    assert spend_of(api_key) == cost
    assert spend_in_flight(api_key) == 0


def test_a_capped_key_is_refused_once_its_journaled_spend_reaches_the_cap(
    transactional_db, funded, journaled
):
    """The counter counts a journaled request at once, before the recorder writes it."""
    api_key, full_key = funded
    # filler/chat uses all of max_tokens: 4,700 tokens at $2.00/M plus 5% is $0.00987 a request.
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("0.01"))
    first = chat(full_key, hello("filler/chat", max_tokens=4700))
    assert first.status == 200
    assert nothing_written(first.json()["nexevo"]["generation_id"])

    cost = Decimal(first.json()["nexevo"]["cost_usd"])
    assert Decimal("0.005") < cost < Decimal("0.01")

    second = chat(full_key, hello("filler/chat", max_tokens=4700))

    assert second.status == 402
    assert second.json()["error"]["code"] == "spend_cap_exceeded"
    assert stream_length() == 1
    assert markers() == [journal.unrecorded_key(first.json()["nexevo"]["generation_id"]).encode()]
    assert journal.drain_all(consumer="test") == 1
    assert spend_of(api_key) == cost
    assert spend_in_flight(api_key) == 0


# --- Written once, whatever comes twice --------------------------------------------------------------


def test_an_entry_delivered_again_after_it_was_written_is_skipped(transactional_db, funded, journaled):
    api_key, full_key = funded
    balance_before = balance_of(api_key)
    generation, cost = answered(full_key)
    [entry] = stream_entries()

    assert journal.drain_all(consumer="test") == 1
    # A recorder that stopped between its commit and its acknowledgement: the entry comes again.
    redis().xadd(journal.STREAM, {"entry": json.dumps(entry)})
    assert journal.drain_all(consumer="test") == 1  # settled: found written
    assert recording.write_journaled([entry]) == ([generation], [])

    assert UsageRecord.objects.filter(pk=generation).count() == 1
    assert LedgerEntry.objects.filter(reference=generation).count() == 1
    assert RequestLog.objects.filter(pk=generation).count() == 1
    assert balance_of(api_key) == balance_before - cost
    assert spend_of(api_key) == cost
    assert stream_length() == 0
    assert stream_length(journal.UNWRITTEN) == 0


def test_an_entry_twice_in_one_batch_is_written_once(transactional_db, funded, journaled):
    api_key, full_key = funded
    balance_before = balance_of(api_key)
    generation, cost = answered(full_key)
    [entry] = stream_entries()
    redis().xadd(journal.STREAM, {"entry": json.dumps(entry)})
    assert stream_length() == 2

    assert journal.drain_all(consumer="test") == 2  # both settled, by one row

    assert UsageRecord.objects.filter(pk=generation).count() == 1
    assert LedgerEntry.objects.filter(reference=generation).count() == 1
    assert balance_of(api_key) == balance_before - cost
    assert spend_of(api_key) == cost
    assert stream_length() == 0
    assert stream_length(journal.UNWRITTEN) == 0  # a duplicate is not an unwritable entry


# --- What cannot be written is set aside ----------------------------------------------------------------


def test_an_entry_that_cannot_be_written_is_set_aside_and_the_others_are_written(
    transactional_db, funded, journaled
):
    api_key, full_key = funded
    balance_before = balance_of(api_key)
    good, cost = answered(full_key)
    [entry] = stream_entries()
    # The same request, charged to a key that does not exist: the foreign key fails at the commit.
    bad = {**entry, "generation": new_id("gen"), "entry": new_id("txn"), "key": "key_does_not_exist"}
    redis().xadd(journal.STREAM, {"entry": json.dumps(bad)})
    redis().set(journal.unrecorded_key(bad["generation"]), 1)
    assert stream_length() == 2

    assert journal.drain_all(consumer="test") == 1

    assert UsageRecord.objects.get(pk=good).cost_usd == cost
    assert balance_of(api_key) == balance_before - cost
    assert spend_of(api_key) == cost
    assert nothing_written(bad["generation"])
    assert stream_length() == 0
    assert stream_entries(journal.UNWRITTEN) == [bad]
    assert markers() == []
    assert journal.drain_all(consumer="test") == 0  # set aside: not tried again by itself

    out = StringIO()
    call_command("recordusage", "--retry-unwritten", stdout=out)

    assert "1 entries put back in the journal." in out.getvalue()
    assert stream_entries() == [bad]
    assert stream_length(journal.UNWRITTEN) == 0
    # Still unwritable: it goes aside again, and nothing else moves.
    assert journal.drain_all(consumer="test") == 0
    assert stream_entries(journal.UNWRITTEN) == [bad]
    assert nothing_written(bad["generation"])
    assert balance_of(api_key) == balance_before - cost


def test_an_entry_refused_by_its_insert_sets_aside_only_itself(transactional_db, funded, journaled):
    """An error raised by the batch's INSERT itself (a value too long for its column), inside the
    recorder's pipeline: the batch rolls back, each entry is tried alone, and only that one fails."""
    api_key, full_key = funded
    balance_before = balance_of(api_key)
    good, cost = answered(full_key)
    [entry] = stream_entries()
    bad = {**entry, "generation": new_id("gen"), "entry": new_id("txn"), "model": "m" * 129}
    redis().xadd(journal.STREAM, {"entry": json.dumps(bad)})

    assert journal.drain_all(consumer="test") == 1

    assert UsageRecord.objects.get(pk=good).cost_usd == cost
    assert balance_of(api_key) == balance_before - cost
    assert spend_of(api_key) == cost
    assert nothing_written(bad["generation"])
    assert stream_entries(journal.UNWRITTEN) == [bad]
    # The connection is usable afterwards: the next batch is written in one go.
    again, again_cost = answered(full_key)
    assert journal.drain_all(consumer="test") == 1
    assert UsageRecord.objects.get(pk=again).cost_usd == again_cost


# --- Not journaled ------------------------------------------------------------------------------------


def test_an_upstream_failure_journals_nothing_and_drops_its_marker(transactional_db, funded, journaled):
    api_key, full_key = funded
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("5.00"))
    balance_before = balance_of(api_key)

    answer = chat(full_key, hello("broken/chat"))

    assert answer.status == 502
    assert answer.json()["error"]["code"] == "upstream_error"
    assert stream_length() == 0
    log = RequestLog.objects.get(api_key=api_key)  # the failure is logged before the answer
    assert (log.status, log.http_status, log.error_code) == ("failed", 502, "upstream_error")
    assert not marked(log.pk)
    assert markers() == []
    assert not UsageRecord.objects.filter(api_key=api_key).exists()
    assert balance_of(api_key) == balance_before
    assert spend_in_flight(api_key) == 0  # the hold was released at zero
    assert journal.drain_all(consumer="test") == 0


def test_a_stream_is_written_before_its_end_and_not_journaled(transactional_db, funded, journaled):
    api_key, full_key = funded
    balance_before = balance_of(api_key)

    answer = chat(full_key, hello("west/chat-a", stream=True))

    assert answer.status == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert answer.body.endswith(b"data: [DONE]\n\n")
    generation = answer.headers["x-nexevo-generation-id"]
    summary = next(
        json.loads(block[len("data: ") :])
        for block in answer.body.decode().split("\n\n")
        if block.startswith("data: {") and '"nexevo"' in block
    )
    cost = Decimal(summary["nexevo"]["cost_usd"])
    record = UsageRecord.objects.get(pk=generation)
    assert record.cost_usd == cost
    assert LedgerEntry.objects.get(reference=generation).amount_usd == -cost
    assert RequestLog.objects.get(pk=generation).stream is True
    assert balance_of(api_key) == balance_before - cost
    assert stream_length() == 0
    assert markers() == []


# --- Feedback on a generation the recorder has not written yet ------------------------------------------


def test_feedback_waits_for_the_recorder_to_write_the_generation(transactional_db, funded, alice, journaled):
    api_key, full_key = funded
    generation, _cost = answered(full_key)
    assert nothing_written(generation) and marked(generation)

    def submit():
        try:
            return feedback_submit(
                organization=api_key.organization, user=alice, generation_id=generation, rating=1
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(submit)
        time.sleep(0.2)
        assert not waiting.done()  # it waits for the generation rather than calling it missing
        assert journal.drain_all(consumer="test") == 1
        feedback, created = waiting.result(timeout=10)

    assert created
    assert (feedback.generation_id, feedback.model, feedback.rating) == (generation, "west/chat-a", 1)
    assert Feedback.objects.get().pk == feedback.pk


def test_feedback_on_a_generation_never_written_gives_up_with_a_503(
    transactional_db, funded, alice, journaled
):
    journaled.NEXEVO_USAGE_JOURNAL_WAIT_SECONDS = 1
    api_key, _full_key = funded
    generation = new_id("gen")
    redis().set(journal.unrecorded_key(generation), 1)  # answered; nobody records it

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as raised:
        feedback_submit(organization=api_key.organization, user=alice, generation_id=generation, rating=1)

    assert 1 <= time.monotonic() - started < 3
    assert (raised.value.code, raised.value.status) == ("generation_pending", 503)
    assert not Feedback.objects.exists()


def test_feedback_on_an_unknown_generation_is_a_404_at_once(transactional_db, funded, alice, journaled):
    journaled.NEXEVO_USAGE_JOURNAL_WAIT_SECONDS = 5
    api_key, _full_key = funded

    started = time.monotonic()
    with pytest.raises(NotFound) as raised:
        feedback_submit(organization=api_key.organization, user=alice, generation_id=new_id("gen"), rating=1)

    assert time.monotonic() - started < 0.5
    assert (raised.value.code, raised.value.status) == ("generation_not_found", 404)


# --- The recorders ----------------------------------------------------------------------------------------


def test_recordusage_once_writes_what_is_there(transactional_db, funded, journaled):
    api_key, full_key = funded
    first, first_cost = answered(full_key)
    second, second_cost = answered(full_key, "west/chat-b")
    assert nothing_written(first) and nothing_written(second)

    out = StringIO()
    call_command("recordusage", "--once", stdout=out)

    assert out.getvalue().strip() == "2 entries written."
    assert {record.pk: record.cost_usd for record in UsageRecord.objects.filter(api_key=api_key)} == {
        first: first_cost,
        second: second_cost,
    }
    assert spend_of(api_key) == first_cost + second_cost
    assert stream_length() == 0
    assert markers() == []


def test_recordusage_refuses_to_run_with_the_journal_off(settings):
    settings.NEXEVO_USAGE_JOURNAL = False

    with pytest.raises(CommandError, match="journal is off"):
        call_command("recordusage", "--once", stdout=StringIO())
    with pytest.raises(CommandError, match="journal is off"):
        call_command("recordusage", "--retry-unwritten", stdout=StringIO())


def test_the_beat_task_sweeps_only_with_the_journal_on(transactional_db, funded, journaled):
    api_key, full_key = funded
    generation, cost = answered(full_key)

    journaled.NEXEVO_USAGE_JOURNAL = False
    assert record_usage() == 0
    assert stream_length() == 1
    assert nothing_written(generation)

    journaled.NEXEVO_USAGE_JOURNAL = True
    assert record_usage() == 1
    assert UsageRecord.objects.get(pk=generation).cost_usd == cost
    assert spend_of(api_key) == cost
    assert stream_length() == 0
    assert not marked(generation)


def test_entries_that_are_not_usage_are_set_aside_and_the_others_are_written(
    transactional_db, funded, journaled
):
    api_key, full_key = funded
    good, cost = answered(full_key)
    [entry] = stream_entries()
    undated = {key: value for key, value in {**entry, "generation": new_id("gen")}.items() if key != "now"}
    redis().xadd(journal.STREAM, {"entry": "{not json"})
    redis().xadd(journal.STREAM, {"entry": json.dumps(undated)})

    assert journal.drain_all(consumer="test") == 1

    assert UsageRecord.objects.get(pk=good).cost_usd == cost
    assert spend_of(api_key) == cost
    assert nothing_written(undated["generation"])
    assert stream_length() == 0
    aside = [fields[b"entry"] for _id, fields in redis().xrange(journal.UNWRITTEN)]
    assert aside[0] == b"{not json"
    assert [json.loads(raw) for raw in aside[1:]] == [undated]

    out = StringIO()
    call_command("recordusage", "--retry-unwritten", stdout=out)

    assert "2 entries put back in the journal." in out.getvalue()
    assert stream_length() == 2
    assert stream_length(journal.UNWRITTEN) == 0


def test_retrying_the_set_aside_entries_copes_with_a_message_that_has_no_entry(
    transactional_db, funded, journaled
):
    """A message in the journal without an ``entry`` field is set aside as it is (journal._write);
    putting the set-aside entries back must not stop at it."""
    api_key, full_key = funded
    good, cost = answered(full_key)
    [entry] = stream_entries()
    redis().xadd(journal.STREAM, {"junk": "x"})
    bad = {**entry, "generation": new_id("gen"), "entry": new_id("txn"), "key": "key_does_not_exist"}
    redis().xadd(journal.STREAM, {"entry": json.dumps(bad)})

    assert journal.drain_all(consumer="test") == 1
    assert UsageRecord.objects.get(pk=good).cost_usd == cost
    assert stream_length(journal.UNWRITTEN) == 2

    call_command("recordusage", "--retry-unwritten", stdout=StringIO())

    back = [fields for _id, fields in redis().xrange(journal.STREAM)]
    assert {b"junk": b"x"} in back  # put back as it was, and it did not stop the other
    assert bad in [json.loads(fields[b"entry"]) for fields in back if b"entry" in fields]
    assert stream_length(journal.UNWRITTEN) == 0


# --- What the review of the journal found ------------------------------------------------------------


def test_with_redis_down_a_key_without_a_cap_is_served_and_written_at_once(
    transactional_db, funded, journaled
):
    """Nothing can be marked or journaled: the request is served all the same (a key without a cap
    needs no counter), and its usage is written before the answer's jobs are done."""
    api_key, full_key = funded
    assert api_key.monthly_spend_cap_usd is None
    journaled.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    answer = chat(full_key, hello("west/chat-a"))

    assert answer.status == 200, answer.body
    block = answer.json()["nexevo"]
    usage = UsageRecord.objects.get(pk=block["generation_id"])
    assert usage.cost_usd == Decimal(block["cost_usd"])
    assert stream_length() == 0


def test_an_entry_of_an_earlier_month_written_late_keeps_this_months_spend(
    transactional_db, funded, journaled
):
    api_key, full_key = funded
    generation, cost = answered(full_key)
    [entry] = stream_entries()
    journal.drain_all(consumer="test")
    late = {
        **entry,
        "generation": new_id("gen"),
        "entry": new_id("txn"),
        "now": "2020-01-31T23:59:59+00:00",
        "day": "2020-01-31",
        "month": "2020-01-01",
    }

    assert recording.write_journaled([late]) == ([late["generation"]], [])

    key = ApiKey.objects.get(pk=api_key.pk)
    assert key.spend_month == timezone.now().date().replace(day=1)
    assert key.month_to_date_spend() == cost  # the late one is charged, and counted in its own month
    assert UsageRecord.objects.filter(pk=late["generation"]).exists()
