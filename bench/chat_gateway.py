"""The chat endpoint's overhead: the same chat requests sent in the same run

(a) straight to a model provider on loopback (tests/fakes/upstream.py, its own process),
(b) through a bare async forwarding proxy (bench/bare_proxy.py: no auth, no metering),
(c) through the gateway, POST /v1/chat/completions under uvicorn, with authentication, admission
    against a capped key, routing over the nexevo/balanced pool and metering all on,

at concurrency 1 and 16, reporting p50, p99 and throughput of each.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/chat_gateway.py --requests 2000

With --baseline PATH (another checkout of the console, e.g. `git worktree add /tmp/before <commit>`),
that checkout's gateway is measured in the same turns as (c), as bin/stack would run it (its own Redis
database and recorder, the same PostgreSQL), and each figure of (c) is printed as a ratio of its.

Target (issue 7): the gateway's added latency over (a) at most 2x the bare proxy's added latency,
at p50 and at p99. Without DATABASE_URL it uses a throwaway SQLite file (and no Redis).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import common
import httpx
from common import (
    ROOT,
    Result,
    Server,
    django_setup,
    free_port,
    funded_key,
    prepare_database,
    server_environment,
)

BODY = {
    "model": "nexevo/balanced",
    "messages": [{"role": "user", "content": "Hello there"}],
    "max_tokens": 16,
}


class Process:
    """A uvicorn app in a process of its own."""

    def __init__(self, target: str, environment: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", target, "--port", str(self.port), "--log-level", "warning"]
            + ["--no-access-log"],
            cwd=ROOT,
            env=environment,
        )

    def __enter__(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("did not start")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)


class Recorder:
    """The usage recorder (manage.py recordusage) beside the gateway, as bin/stack runs it, when the
    usage journal is on; or with ``after``, started once the measured runs are over (the journal
    holds what they answered until then), to see the gateway without the recorder's writes
    competing for the machine's cores."""

    def __init__(self, environment: dict, *, after: bool = False, root: Path = ROOT):
        self.environment, self.process, self.root = environment, None, root
        if not after:
            self._start()

    def _start(self) -> None:
        if self.environment.get("NEXEVO_USAGE_JOURNAL") == "1":
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "recordusage"], cwd=self.root, env=self.environment
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process is None:
            self._start()
        if self.process is not None:
            wait_recorded(self.process, self.environment["REDIS_URL"])
            self.process.terminate()
            self.process.wait(timeout=10)


def wait_recorded(process, redis_url: str, seconds: float = 60) -> None:
    """Until the journal (in ``redis_url``'s database) is empty: everything answered is written."""
    import redis

    from gateway import journal

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if not client.exists(journal.STREAM):
            return  # nothing was journaled
        if not client.xinfo_groups(journal.STREAM):  # a recorder just started has not made it yet
            time.sleep(0.2)
            continue
        pending = client.xpending(journal.STREAM, journal.GROUP)["pending"]
        if client.xlen(journal.STREAM) == 0 and pending == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("the recorder did not write the journal")


def metering_check(api_key, served: int) -> int:
    """Every answered request of the measured runs and their warm-ups is recorded and charged."""
    from django.db.models import Sum

    from billing.models import BillingAccount, LedgerEntry, UsageRecord

    recorded = UsageRecord.objects.filter(api_key=api_key).count()
    if recorded != served:
        raise RuntimeError(f"{recorded} requests recorded of {served} answered")
    organization_id = api_key.organization_id
    balance = BillingAccount.objects.get(organization_id=organization_id).balance_usd
    ledger = LedgerEntry.objects.filter(organization_id=organization_id).aggregate(total=Sum("amount_usd"))
    if balance != ledger["total"]:
        raise RuntimeError(f"the balance {balance} is not its ledger's sum {ledger['total']}")
    return recorded


def measure(runs: dict, *, requests, concurrency, rounds) -> list[Result]:
    """The shared load generator, POSTing the chat body as JSON to every run in turns."""
    json_headers = {"Content-Type": "application/json"}
    return common.measure_in_turns(
        {name: (url, {**headers, **json_headers}) for name, (url, headers) in runs.items()},
        requests=requests,
        concurrency=concurrency,
        body=json.dumps(BODY).encode(),
        rounds=rounds,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="turns the requests are sent in")
    parser.add_argument(
        "--recorder",
        choices=["beside", "after"],
        default="beside",
        help="run the usage recorder beside the gateway (as bin/stack does), or only after the runs",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of the console whose gateway is measured beside (c), for before/after",
    )
    arguments = parser.parse_args()

    environment = server_environment()
    prepare_database(environment)
    with Process("tests.fakes.upstream:unrecorded") as upstream:
        provider_root = f"{upstream.url}/ok"
        django_setup(environment)
        from decimal import Decimal

        from apikeys.models import ApiKey
        from gateway.services import providers_load

        price = {"input_per_million_usd": "1.00", "output_per_million_usd": "2.00"}
        providers_load(
            {
                "providers": [
                    {
                        "id": "bench-a",
                        "base_url": f"{provider_root}/v1",
                        "region": "overseas",
                        "api_key": "a",
                    },
                    {"id": "bench-b", "base_url": f"{provider_root}/v1", "region": "cn", "api_key": "b"},
                ],
                "models": [
                    {"id": "bench-a/one", "provider": "bench-a", **price},
                    {"id": "bench-b/two", "provider": "bench-b", **price},
                ],
                "pools": {"balanced": ["bench-a/one", "bench-b/two"]},
            }
        )
        _organization, api_key, full_key = funded_key("chat-bench@example.com")
        # Rate limits far above what the runs send (a payg key's 600 a minute would refuse most of
        # them): the per-key limits are measured as the endpoint runs them, never hit.
        ApiKey.objects.filter(pk=api_key.pk).update(
            monthly_spend_cap_usd=Decimal("100000.00"),
            requests_per_minute=1_000_000_000,
            tokens_per_minute=1_000_000_000,
        )

        proxy_environment = {**environment, "BARE_PROXY_UPSTREAM": provider_root}
        # The gateway twice: as bin/stack runs it (usage journal on, with its recorder), and writing
        # each request before answering it (journal off, as without Redis).
        # The journal needs Redis and PostgreSQL; without them there is only the second.
        journal_on = bool(environment.get("REDIS_URL")) and "postgres" in environment["DATABASE_URL"]
        journaled = {**environment, "NEXEVO_USAGE_JOURNAL": "1" if journal_on else "0"}
        inline = {**environment, "NEXEVO_USAGE_JOURNAL": "0"}
        authorization = {"Authorization": f"Bearer {full_key}"}
        # The baseline checkout's gateway runs as (c) does, on a Redis database of its own (its
        # journal and spend counters apart from (c)'s), writing to the same PostgreSQL.
        baseline_environment = {**journaled}
        if journal_on and arguments.baseline:
            baseline_environment["REDIS_URL"] = other_redis_database(journaled["REDIS_URL"])
            redis_flush(baseline_environment["REDIS_URL"])
        results, verdicts, comparisons = [], [], []
        served = 0
        with (
            Process("bench.bare_proxy:app", proxy_environment) as proxy,
            Server(journaled) as gateway,
            Recorder(journaled, after=arguments.recorder == "after"),
            Server(inline) as gateway_inline,
            optional(arguments.baseline, lambda root: Server(baseline_environment, root=root)) as before,
            optional(
                arguments.baseline,
                lambda root: Recorder(baseline_environment, after=arguments.recorder == "after", root=root),
            ),
        ):
            for concurrency in (1, 16):
                runs = {
                    "(a) provider directly": (f"{provider_root}/v1/chat/completions", {}),
                    "(b) bare forwarding proxy": (f"{proxy.url}/v1/chat/completions", {}),
                    "(c) gateway, metered": (f"{gateway.url}/v1/chat/completions", authorization),
                }
                if journal_on:
                    runs["(c') same, written first"] = (
                        f"{gateway_inline.url}/v1/chat/completions",
                        authorization,
                    )
                if before is not None:
                    runs["(c) baseline checkout"] = (f"{before.url}/v1/chat/completions", authorization)
                measured = measure(
                    runs, requests=arguments.requests, concurrency=concurrency, rounds=arguments.rounds
                )
                baseline = measured.pop() if before is not None else None
                direct, bare, full, *written_first = measured
                served += sum(run.sent for run in [full, *written_first])
                results += [direct, bare, full, *written_first]
                if baseline is not None:
                    served += baseline.sent
                    results.append(baseline)
                    comparisons.append(
                        f"concurrency {concurrency:>2}: (c) over the baseline: "
                        f"p50 {full.median_ms / baseline.median_ms:.2f}x, "
                        f"p99 {full.p99_ms / baseline.p99_ms:.2f}x, "
                        f"req/s {full.throughput / baseline.throughput:.2f}x"
                    )
                for label, pick in (("p50", lambda r: r.median_ms), ("p99", lambda r: r.p99_ms)):
                    proxy_added = pick(bare) - pick(direct)
                    gateways = [("gateway", full)] + [("written first", run) for run in written_first]
                    for what, run in gateways:
                        added = pick(run) - pick(direct)
                        ratio = added / proxy_added if proxy_added > 0 else float("inf")
                        verdict = ("meets" if ratio <= 2 else "misses") if run is full else "for comparison"
                        verdicts.append(
                            f"concurrency {concurrency:>2} {label}: proxy adds {proxy_added:.2f} ms, "
                            f"{what} adds {added:.2f} ms = {ratio:.2f}x (target <= 2x) -> {verdict}"
                        )
        recorded = metering_check(api_key, served)
    database = environment["DATABASE_URL"].split("@")[-1]
    journal = "on" if journal_on else "off"
    journal += f", recorder {arguments.recorder}" if journal_on else ""
    print(f"database: {database}, redis: {environment.get('REDIS_URL') or 'none'}, usage journal: {journal}")
    print(f"metering: {recorded} requests recorded of {served} answered; the balance equals its ledger")
    print(f"{'what':<30}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for result in results:
        print(
            f"{result.name:<30}{result.concurrency:>5}{result.median_ms:>9.2f}{result.p99_ms:>9.2f}"
            f"{result.throughput:>9.0f}"
        )
    print()
    print("\n".join(verdicts))
    if comparisons:
        print(f"\nbaseline: {arguments.baseline}")
        print("\n".join(comparisons))
    return 0


class optional:
    """``make(value)`` as a context manager when ``value`` is given, else nothing (``None``)."""

    def __init__(self, value, make):
        self.manager = make(value) if value else None

    def __enter__(self):
        return self.manager.__enter__() if self.manager else None

    def __exit__(self, *exc):
        return self.manager.__exit__(*exc) if self.manager else None


def other_redis_database(url: str) -> str:
    """The same Redis server, the database after ``url``'s (wrapping at 16)."""
    base, _, number = url.rpartition("/")
    return f"{base}/{(int(number or 0) + 1) % 16}"


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


if __name__ == "__main__":
    sys.exit(main())
