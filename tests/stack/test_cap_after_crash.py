"""A capped key after a web process is killed outright, and after a Redis outage (gateway.leases,
gateway.admission): what the dead process held on the key's cap is given back by the beat job within
the stated bound (``NEXEVO_HOLDER_TTL_SECONDS`` + the job's interval), give-backs that Redis could not
take during an outage land once it answers, and the key can then spend up to its cap. The full stack
as bin/stack runs it: uvicorn with the usage journal, the recorder, PostgreSQL and a Redis server of
the test's own, and a Celery worker with beat embedded (``worker -B``, the schedule of
CELERY_BEAT_SCHEDULE through django-celery-beat's database scheduler) running the give-back job. The
intervals are shortened by their settings so the tests take seconds."""

import os
import signal
import threading
import time
from decimal import Decimal

import httpx
import redis
from django.utils import timezone

from apikeys.models import ApiKey
from core.money import to_micros
from gateway import routing
from gateway.services import providers_load
from tests.billing.helpers import credit
from tests.conftest import new_key
from tests.gateway.conftest import catalog_for

from .processes import VENV_BIN, StackProcess, wait_until
from .test_usage_journal import start_recorder

CAP = Decimal("1.00")
MAX_TOKENS = 10_000  # the "fill" provider answers with all of them: a request costs about its worst case
BODY = {
    "model": "filler/chat",
    "messages": [{"role": "user", "content": "Fill it up"}],
    "max_tokens": MAX_TOKENS,
}
# Prices of tests.gateway.conftest: $1 per million prompt tokens, $2 per million completion tokens; a
# prompt never counts more tokens than its bytes. An upper bound of one request's worst case.
WORST_CASE = Decimal(2 * MAX_TOKENS + 200) / 1_000_000
HEARTBEAT_SECONDS, TTL_SECONDS, JOB_SECONDS = 1, 3, 1
BOUND_SECONDS = TTL_SECONDS + JOB_SECONDS  # what the test's settings make of the stated bound


def capped_key(stack, fake_upstream, alice):
    providers_load(catalog_for(fake_upstream))
    routing.reseed(1234)
    api_key, full_key = new_key(alice)
    ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=CAP)
    credit(api_key.organization, "100.00")
    stack.env.update(
        NEXEVO_USAGE_JOURNAL="1",
        NEXEVO_HOLDER_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        NEXEVO_HOLDER_TTL_SECONDS=str(TTL_SECONDS),
        NEXEVO_DEAD_HOLDINGS_SWEEP_SECONDS=str(JOB_SECONDS),
        NEXEVO_GIVE_BACK_RETRY_SECONDS="1",
    )
    return api_key, full_key


def post(url: str, full_key: str, *, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json=BODY,
        headers={"Authorization": f"Bearer {full_key}"},
        timeout=timeout,
    )


class Load:
    """``concurrency`` clients sending requests back to back until stopped; what they got back."""

    def __init__(self, url: str, full_key: str, *, concurrency: int = 16):
        self.statuses: list[int] = []
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self.client, args=(url, full_key), daemon=True)
            for _ in range(concurrency)
        ]
        for thread in self.threads:
            thread.start()

    def client(self, url: str, full_key: str) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                try:
                    answer = client.post(
                        f"{url}/v1/chat/completions",
                        json=BODY,
                        headers={"Authorization": f"Bearer {full_key}"},
                    )
                    self.statuses.append(answer.status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)
                    time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)


def counted(client, api_key) -> int:
    """The key's spend counter in Redis this month, in micro-dollars (spend, holds and leases)."""
    return int(client.get(f"nexevo:spend:{api_key.pk}:{timezone.now():%Y-%m}") or 0)


def journal_written(client) -> bool:
    return client.xlen("nexevo:usage") == 0


def spent(api_key) -> Decimal:
    return ApiKey.objects.get(pk=api_key.pk).month_to_date_spend()


def start_worker_with_beat(stack) -> StackProcess:
    """A Celery worker with beat embedded, as the full stack's worker and beat together."""
    worker = StackProcess(
        "worker",
        [
            str(VENV_BIN / "celery"),
            "-A",
            "nexevo_site",
            "worker",
            "--beat",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--without-mingle",
            "--without-gossip",
        ],
        env=stack.env,
        log_dir=stack.log_dir,
    )
    stack.processes.append(worker)
    wait_until(
        lambda: "give_back_dead_holdings" in worker.output(), timeout=90, message="the worker and beat"
    )
    return worker


def spend_up_to_the_cap(url: str, full_key: str, api_key, client) -> list[int]:
    """Requests one after another until one is refused: every one is served while what is left of
    the cap is at least a request's worst case."""
    statuses = []
    for _ in range(200):
        answer = post(url, full_key)
        statuses.append(answer.status_code)
        if answer.status_code != 200:
            assert answer.status_code == 402, answer.text
            assert answer.json()["error"]["code"] == "spend_cap_exceeded"
            break
    wait_until(lambda: journal_written(client), timeout=30, message="the recorder to write the journal")
    left = CAP - spent(api_key)
    assert Decimal(0) <= left < WORST_CASE, (left, statuses)
    return statuses


def test_a_killed_web_process_leaves_no_hold_on_the_cap_past_the_bound(stack, fake_upstream, alice):
    api_key, full_key = capped_key(stack, fake_upstream, alice)
    client = redis.Redis.from_url(stack.redis.url())
    url = stack.start_web()
    start_recorder(stack)
    worker = start_worker_with_beat(stack)

    load = Load(url, full_key, concurrency=16)
    wait_until(lambda: load.statuses.count(200) >= 10, timeout=60, interval=0.01, message="10 answers")
    os.kill(stack.web.process.pid, signal.SIGKILL)  # mid-load: requests in flight, a lease held
    killed_at = time.monotonic()
    stack.web.process.wait(timeout=10)
    load.stop()
    wait_until(lambda: journal_written(client), timeout=30, message="the recorder to write the journal")
    # The dead process's holds are still counted: more than the spend, which is below the cap.
    left_behind = counted(client, api_key) - to_micros(spent(api_key))
    assert left_behind >= to_micros(WORST_CASE) // 2, left_behind
    assert spent(api_key) <= CAP - 2 * WORST_CASE

    # The beat job gives the dead process's holds back: the counter holds the spend and nothing else.
    wait_until(
        lambda: journal_written(client) and counted(client, api_key) == to_micros(spent(api_key)),
        timeout=BOUND_SECONDS + 30,
        interval=0.1,
        message="the dead process's holds to be given back",
    )
    # Not before its last heartbeat (at most HEARTBEAT_SECONDS before the kill) was TTL_SECONDS old,
    # and within the bound; the margin is for beat and the worker on a busy machine (a task goes
    # through the broker; each run is a few Redis calls).
    assert TTL_SECONDS - HEARTBEAT_SECONDS <= time.monotonic() - killed_at < BOUND_SECONDS + 8
    assert "Gave back" in worker.output()

    stack.processes.remove(stack.web)
    url = stack.start_web()
    statuses = spend_up_to_the_cap(url, full_key, api_key, client)
    assert statuses[-1] == 402 and statuses.count(200) >= 10
    assert spent(api_key) <= CAP


def test_give_backs_made_during_a_redis_outage_land_once_it_answers(stack, fake_upstream, alice):
    api_key, full_key = capped_key(stack, fake_upstream, alice)
    # Longer than the outage: the web process, alive throughout, is never taken for dead.
    stack.env["NEXEVO_HOLDER_TTL_SECONDS"] = "15"
    client = redis.Redis.from_url(stack.redis.url())
    url = stack.start_web()
    start_recorder(stack)

    load = Load(url, full_key, concurrency=16)
    wait_until(lambda: load.statuses.count(200) >= 10, timeout=60, interval=0.01, message="10 answers")
    stack.redis.stop(keep_data=True)  # the leases held now cannot go back to the counter
    time.sleep(1)  # requests keep coming in the outage (each one a 503)
    load.stop()
    outage = 5  # seconds; every give-back tried during it failed
    time.sleep(outage - 1)
    assert 503 in load.statuses
    stack.redis.start()
    client = redis.Redis.from_url(stack.redis.url())

    # No beat job runs: the web process sends its give-backs itself once Redis answers.
    wait_until(lambda: journal_written(client), timeout=30, message="the recorder to write the journal")
    try:
        wait_until(
            lambda: counted(client, api_key) == to_micros(spent(api_key)),
            timeout=10,
            interval=0.1,
            message="the counter to come down to the spend",
        )
    except AssertionError:
        holdings = {
            name: client.hgetall(b"nexevo:holdings:" + name)
            for name in client.zrange("nexevo:holders", 0, -1)
        }
        from billing.models import UsageRecord

        records = list(UsageRecord.objects.filter(api_key_id=api_key.pk).values_list("cost_usd", flat=True))
        raise AssertionError(
            (counted(client, api_key), to_micros(spent(api_key)), holdings, load.statuses.count(200), records)
        ) from None
    assert "give-backs wait for Redis" in stack.web.output()
    assert spent(api_key) <= CAP - 2 * WORST_CASE

    statuses = spend_up_to_the_cap(url, full_key, api_key, client)
    assert statuses[-1] == 402 and statuses.count(200) >= 2
    assert spent(api_key) <= CAP
