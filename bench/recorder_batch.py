"""The usage recorder's cost per recorded request: journal entries written in batches
(gateway.recording.write_journaled, as ``manage.py recordusage`` writes them) against the same
entries written one statement each (billing.charges with a batch of one, as the endpoint writes a
request when the journal is off), in the same run, on PostgreSQL.

    DATABASE_URL=postgres://nexevo:nexevo@127.0.0.1:5432/nexevo_recorderbench \\
        .venv/bin/python bench/recorder_batch.py [--entries 5000] [--sizes 25,100,500]

DATABASE_URL names a database for the benchmark alone: it is migrated, and a user, a key and a
credit are added to it. For each way of writing, the same number of entries (real ones, priced by
the endpoint's own code) is written after a warm-up, in five turns taken in rotation with the other
ways. Reported per entry: the wall time, this process's CPU time (the recorder's side) and the CPU
time of its PostgreSQL backend (read from /proc, so only when the server runs on this machine). The
ratios compare each batch size with one statement per entry. No target of its own: the recorder's
CPU is what issue 7's concurrency-1 p99 depends on (bench/README.md, chat_gateway.py).
"""

import argparse
import json
import os
import secrets
import sys
import time

from common import django_setup, funded_key, prepare_database, server_environment

WARM_UP = 200
ROUNDS = 5


def refuse(message: str) -> int:
    print(f"recorder_batch.py: {message}", file=sys.stderr)
    return 2


class BackendClock:
    """The CPU time of this connection's PostgreSQL backend, when the server runs here."""

    def __init__(self, connection):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.process = f"/proc/{cursor.fetchone()[0]}"
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float | None:
        try:
            with open(f"{self.process}/comm") as name:
                if name.read().strip() != "postgres":  # a process of that number here is another
                    return None
            with open(f"{self.process}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the server runs elsewhere
            return None
        return (int(fields[11]) + int(fields[12])) / self.tick


def measure(write, entries: list[dict], clock: BackendClock) -> dict:
    """Seconds of wall time, of this process's CPU and of the backend's CPU (None if unknown)."""
    backend, cpu, wall = clock.seconds(), time.process_time(), time.perf_counter()
    write(entries)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    backend_after = clock.seconds()
    return {
        "wall": wall,
        "recorder": cpu,
        "backend": None if backend is None or backend_after is None else backend_after - backend,
    }


def per_entry(turns: list[dict], entries: int) -> dict:
    """The turns' figures added up, in microseconds per entry."""
    backends = [turn["backend"] for turn in turns]
    return {
        "wall": sum(turn["wall"] for turn in turns) * 1e6 / entries,
        "recorder": sum(turn["recorder"] for turn in turns) * 1e6 / entries,
        "backend": None if None in backends else sum(backends) * 1e6 / entries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000, help="written each way")
    parser.add_argument("--sizes", default="25,100,500", help="batch sizes, comma-separated")
    arguments = parser.parse_args()
    try:
        sizes = [int(size) for size in arguments.sizes.split(",")]
    except ValueError:
        return refuse("--sizes takes whole numbers separated by commas, e.g. 25,100,500")
    if arguments.entries < 1 or not sizes or min(sizes) < 1:
        return refuse("--entries and every size must be at least 1")
    if "postgres" not in os.environ.get("DATABASE_URL", ""):
        return refuse(
            "the recorder writes on PostgreSQL only; set DATABASE_URL to a database for the benchmark, e.g.\n"
            "  DATABASE_URL=postgres://nexevo:nexevo@127.0.0.1:5432/nexevo_recorderbench"
        )

    environment = server_environment()
    prepare_database(environment)
    django_setup(environment)

    from django.db import connection

    from billing.charges import charges_write
    from billing.models import BillingAccount, LedgerEntry, UsageRecord
    from gateway import api, recording
    from gateway.models import RequestStatus
    from gateway.services import providers_load

    price = {"input_per_million_usd": "1.00", "output_per_million_usd": "2.00"}
    providers_load(
        {
            "providers": [
                {"id": "bench-r", "base_url": "http://127.0.0.1:9/v1", "region": "overseas", "api_key": "r"}
            ],
            "models": [{"id": "bench-r/one", "provider": "bench-r", **price}],
            "pools": {"balanced": ["bench-r/one"]},
        }
    )
    # A user (so an organization) of this run's own: the checks at the end count this run's writes.
    organization, _api_key, full_key = funded_key(f"recorder-bench-{secrets.token_hex(4)}@example.com")
    body = json.dumps({"model": "nexevo/balanced", "messages": [{"role": "user", "content": "hi"}]})
    served = {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "status": RequestStatus.COMPLETED,
        "http_status": 200,
    }

    def entries(count: int) -> list[dict]:
        """Journal entries as the endpoint makes them: planned, routed and priced by its own code."""
        made = []
        for _ in range(count):
            pending = api._plan(full_key, body.encode())
            pending.target, pending.attempts = pending.route.targets[0], 1
            made.append(recording.journal_entry(pending, **served)[1])
        return made

    def one_statement_each(batch: list[dict]) -> None:
        for entry in batch:
            charges_write(recording.CHARGES, [recording.parameters_of(entry)])

    def in_batches_of(size: int):
        def write(batch: list[dict]) -> None:
            for start in range(0, len(batch), size):
                _settled, failed = recording.write_journaled(batch[start : start + size])
                if failed:
                    raise RuntimeError(f"{len(failed)} entries could not be written")

        return write

    connection.ensure_connection()
    clock = BackendClock(connection)
    ways = {"one statement per entry": one_statement_each}
    ways.update({f"batches of {size}": in_batches_of(size) for size in sizes})
    for write in ways.values():
        write(entries(WARM_UP))
    # In turns (a share of the entries each way, then again), so that the tables' growth and whatever
    # else the machine does fall on every way alike.
    share = max(arguments.entries // ROUNDS, 1)
    turns = {name: [] for name in ways}
    for _ in range(ROUNDS):
        for name, write in ways.items():
            turns[name].append(measure(write, entries(share), clock))
    results = {name: per_entry(measured, share * ROUNDS) for name, measured in turns.items()}

    print(f"database: {connection.settings_dict['HOST']}/{connection.settings_dict['NAME']}")
    print(f"{'written as':28} {'wall us':>9} {'recorder us':>12} {'backend us':>11}   (per entry)")
    for name, figures in results.items():
        backend = "n/a" if figures["backend"] is None else f"{figures['backend']:.0f}"
        print(f"{name:28} {figures['wall']:9.0f} {figures['recorder']:12.0f} {backend:>11}")
    baseline = results["one statement per entry"]
    for name, figures in list(results.items())[1:]:
        ratios = [f"wall {figures['wall'] / baseline['wall']:.2f}x"]
        ratios.append(f"recorder {figures['recorder'] / baseline['recorder']:.2f}x")
        if figures["backend"] is not None and baseline["backend"]:
            ratios.append(f"backend {figures['backend'] / baseline['backend']:.2f}x")
        print(f"{name}: " + ", ".join(ratios) + " of one statement per entry")

    written = len(ways) * (WARM_UP + share * ROUNDS)
    recorded = UsageRecord.objects.filter(organization=organization).count()
    ledger = sum(LedgerEntry.objects.filter(organization=organization).values_list("amount_usd", flat=True))
    balance = BillingAccount.objects.get(organization=organization).balance_usd
    if recorded != written or ledger != balance:
        print(f"recording check failed: {recorded} of {written} written; ledger {ledger}, balance {balance}")
        return 1
    print(f"recording check: {recorded} of {written} written; the balance equals its ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
