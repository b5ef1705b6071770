"""The chat endpoint's overhead: the same chat requests sent in the same run

(a) straight to a model provider on loopback (tests/fakes/upstream.py, its own process),
(b) through a bare async forwarding proxy (bench/bare_proxy.py: no auth, no metering),
(c) through the gateway, POST /v1/chat/completions under uvicorn, with authentication, admission
    against a capped key, routing over the nexevo/balanced pool and metering all on,

at concurrency 1 and 16, reporting p50, p99 and throughput of each.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/chat_gateway.py --requests 2000

Target (issue 7): the gateway's added latency over (a) at most 2x the bare proxy's added latency,
at p50 and at p99. Without DATABASE_URL it uses a throwaway SQLite file (and no Redis).
"""

import argparse
import json
import subprocess
import sys
import time

import common
import httpx
from common import ROOT, Result, Server, django_setup, free_port, prepare_database, server_environment

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


def measure(name, url, headers, *, requests, concurrency) -> Result:
    """The shared load generator, POSTing the chat body as JSON."""
    return common.measure(
        name,
        url,
        {**headers, "Content-Type": "application/json"},
        requests=requests,
        concurrency=concurrency,
        body=json.dumps(BODY).encode(),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    arguments = parser.parse_args()

    environment = server_environment()
    prepare_database(environment)
    with Process("tests.fakes.upstream:unrecorded") as upstream:
        provider_root = f"{upstream.url}/ok"
        django_setup(environment)
        from decimal import Decimal

        from accounts.models import User
        from apikeys.models import ApiKey
        from apikeys.services import key_create
        from billing.models import EntryKind
        from billing.services import ledger_post
        from core.ids import new_id
        from gateway.services import providers_load
        from orgs.selectors import personal_organization_of_user

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
        user, _ = User.objects.get_or_create(email="chat-bench@example.com")
        organization = personal_organization_of_user(user=user)
        api_key, full_key = key_create(organization=organization, created_by=user, name="bench")
        ApiKey.objects.filter(pk=api_key.pk).update(monthly_spend_cap_usd=Decimal("100000.00"))
        ledger_post(
            organization=organization,
            kind=EntryKind.ADJUSTMENT,
            amount=Decimal("100000.00"),
            reference=new_id("adj"),
            description="benchmark credit",
        )

        proxy_environment = {**environment, "BARE_PROXY_UPSTREAM": provider_root}
        results, verdicts = [], []
        with Process("bench.bare_proxy:app", proxy_environment) as proxy, Server(environment) as gateway:
            for concurrency in (1, 16):
                direct = measure(
                    "(a) provider directly",
                    f"{provider_root}/v1/chat/completions",
                    {},
                    requests=arguments.requests,
                    concurrency=concurrency,
                )
                bare = measure(
                    "(b) bare forwarding proxy",
                    f"{proxy.url}/v1/chat/completions",
                    {},
                    requests=arguments.requests,
                    concurrency=concurrency,
                )
                full = measure(
                    "(c) gateway, metered",
                    f"{gateway.url}/v1/chat/completions",
                    {"Authorization": f"Bearer {full_key}"},
                    requests=arguments.requests,
                    concurrency=concurrency,
                )
                results += [direct, bare, full]
                for label, pick in (("p50", lambda r: r.median_ms), ("p99", lambda r: r.p99_ms)):
                    proxy_added = pick(bare) - pick(direct)
                    gateway_added = pick(full) - pick(direct)
                    ratio = gateway_added / proxy_added if proxy_added > 0 else float("inf")
                    verdicts.append(
                        f"concurrency {concurrency:>2} {label}: proxy adds {proxy_added:.2f} ms, "
                        f"gateway adds {gateway_added:.2f} ms = {ratio:.2f}x (target <= 2x) -> "
                        f"{'meets' if ratio <= 2 else 'misses'}"
                    )
    database = environment["DATABASE_URL"].split("@")[-1]
    print(f"database: {database}, redis: {environment.get('REDIS_URL') or 'none'}")
    print(f"{'what':<30}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for result in results:
        print(
            f"{result.name:<30}{result.concurrency:>5}{result.median_ms:>9.2f}{result.p99_ms:>9.2f}"
            f"{result.throughput:>9.0f}"
        )
    print()
    print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
