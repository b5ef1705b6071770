"""The usage roll-up (billing.rollup.usage_rollup) over N usage records against a raw SQL GROUP BY over
the same rows, on PostgreSQL, in the same run.

    DATABASE_URL=postgres://nexevo:nexevo@127.0.0.1:5432/nexevo .venv/bin/python bench/usage_rollup.py \
        [--rows 1000000] [--batch-size N] [--phases]

Target (issue text): the roll-up takes at most 1.5x the raw query's time. PostgreSQL only: DATABASE_URL
gives the server and credentials, and the benchmark works in a throwaway database that it creates
next to the one named there (the role needs CREATEDB) and drops at the end; it never touches that one.

After a warm-up, the raw query and the roll-up are timed 5 times each, in turns (medians). The
roll-up consumes the records, so before each run after the first its watermark is set back to 0 and
DailyUsage emptied (not timed; the records themselves are never touched). --phases adds one more run
of the same function with a clock around each statement it sends, and the plan (EXPLAIN ANALYZE) of
its GROUP BY.
"""

import argparse
import datetime
import os
import secrets
import statistics
import sys
import time
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import psycopg
from common import django_setup, prepare_database, server_environment
from psycopg import sql

TARGET = 1.5
RUNS = 5  # of each, in turns, so that load from elsewhere on the machine falls on both alike
DAYS = 30
USERS = 3  # each with a personal organization
KEYS_PER_USER = 2
# (requested model, served model, tier), as billing.pricing.tier_for assigns them.
KINDS = [
    ("nexevo/fast", "nexevo/fast", "fast"),
    ("nexevo/balanced", "openai/gpt-4o", "balanced"),
    ("openai/gpt-4o-mini", "openai/gpt-4o-mini", "passthrough"),
    ("anthropic/claude-3.5-sonnet", "anthropic/claude-3.5-sonnet", "byok"),
]


def refuse(message: str) -> int:
    print(f"usage_rollup.py: {message}", file=sys.stderr)
    return 2


def postgres_url() -> str | None:
    """DATABASE_URL if it names a PostgreSQL database, else None."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return None
    try:
        engine = dj_database_url.parse(url)["ENGINE"]
    except Exception:  # noqa: BLE001 - an unknown scheme is just "not PostgreSQL"
        return None
    return url if engine.endswith(("postgresql", "postgis")) else None


def maintenance_connection(url: str) -> psycopg.Connection:
    """A connection to the server's ``postgres`` database with DATABASE_URL's credentials."""
    settings = dj_database_url.parse(url)
    return psycopg.connect(
        dbname="postgres",
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
        **{key: value for key, value in settings.get("OPTIONS", {}).items() if key == "sslmode"},
    )


def drop_database(url: str, name: str) -> None:
    """A plain DROP DATABASE: PostgreSQL stops an autovacuum worker in it by itself, which WITH (FORCE)
    may not do for a role that is not a superuser. Sessions still open in it are this process's own
    (Django's connections closes only the main thread's; something at start-up opens more), and are
    ended first. Retried while something still holds it."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    with maintenance_connection(url) as admin:
        for attempt in range(10):
            try:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )
                admin.execute(statement)
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 9:
                    raise
                time.sleep(2)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def seconds_of(function) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


class Bench:
    """The work done inside the throwaway database, once Django is set up on it."""

    def __init__(self, rows: int, batch_size: int):
        from django.db import connection

        from billing.models import DailyUsage, UsageRecord

        self.rows = rows
        self.batch_size = batch_size
        self.connection = connection
        quote = connection.ops.quote_name

        def column(model, name):
            return quote(model._meta.get_field(name).column)

        self.usage = quote(UsageRecord._meta.db_table)
        self.usage_table = UsageRecord._meta.db_table
        self.daily = quote(DailyUsage._meta.db_table)
        self.u = {name: column(UsageRecord, name) for name in (
            "id", "organization", "api_key", "user", "requested_model", "model", "tier", "prompt_tokens",
            "completion_tokens", "cost_usd", "created_at", "day",
        )}  # fmt: skip
        self.d = {name: column(DailyUsage, name) for name in (
            "organization", "api_key", "day", "tier", "model", "requests", "prompt_tokens",
            "completion_tokens", "cost_usd",
        )}  # fmt: skip
        u = self.u
        self.raw_sql = (
            f"SELECT {u['organization']}, {u['api_key']}, {u['day']}, {u['tier']}, {u['model']}, count(*), "
            f"sum({u['prompt_tokens']}), sum({u['completion_tokens']}), sum({u['cost_usd']}) "
            f"FROM {self.usage} GROUP BY 1, 2, 3, 4, 5"
        )

    def execute(self, statement: str, params=None):
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.rowcount

    def fetch(self, statement: str, params=None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()

    def vacuum(self) -> None:
        self.execute(f"VACUUM ANALYZE {self.usage}")
        self.execute(f"VACUUM ANALYZE {self.daily}")

    def generate(self) -> float:
        """The organizations and keys through the services, then the records in one INSERT ... SELECT."""
        from django.utils import timezone

        from accounts.models import User
        from apikeys.services import key_create
        from orgs.selectors import personal_organization_of_user

        owners = []  # (organization id, key id, user id)
        for number in range(USERS):
            user = User.objects.create_user(email=f"bench{number}@example.com", password=None)
            organization = personal_organization_of_user(user=user)
            for key_number in range(KEYS_PER_USER):
                api_key, _ = key_create(
                    organization=organization, created_by=user, name=f"bench {key_number}"
                )
                owners.append((organization.id, api_key.id, user.id))
        start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - datetime.timedelta(
            days=DAYS
        )
        u = self.u
        columns = ", ".join(u[name] for name in (
            "id", "organization", "api_key", "user", "requested_model", "model", "tier", "prompt_tokens",
            "completion_tokens", "cost_usd", "created_at", "day",
        ))  # fmt: skip
        # Key by g, kind by g / keys, so every key sees every kind; times rise with g over DAYS days,
        # as records arrive; tokens and costs are spread deterministically. The trigger numbers them (seq).
        statement = f"""
            INSERT INTO {self.usage} ({columns})
            SELECT 'gen_' || lpad(g::text, 24, '0'),
                   (%(orgs)s::text[])[1 + g %% %(n_keys)s],
                   (%(keys)s::text[])[1 + g %% %(n_keys)s],
                   (%(users)s::text[])[1 + g %% %(n_keys)s],
                   (%(requested)s::text[])[1 + (g / %(n_keys)s) %% %(n_kinds)s],
                   (%(served)s::text[])[1 + (g / %(n_keys)s) %% %(n_kinds)s],
                   (%(tiers)s::text[])[1 + (g / %(n_keys)s) %% %(n_kinds)s],
                   (1 + (g * 7919) %% 5000)::int,
                   (1 + (g * 6007) %% 2000)::int,
                   1 + (g * 104729) %% 999999,
                   t.at,
                   (t.at AT TIME ZONE 'UTC')::date
            FROM generate_series(1::bigint, %(rows)s::bigint) AS g,
                 LATERAL (SELECT %(start)s::timestamptz
                                 + (g - 1) * (interval '{DAYS} days' / %(rows)s)) AS t(at)
        """
        params = {
            "orgs": [owner[0] for owner in owners],
            "keys": [owner[1] for owner in owners],
            "users": [owner[2] for owner in owners],
            "n_keys": len(owners),
            "requested": [kind[0] for kind in KINDS],
            "served": [kind[1] for kind in KINDS],
            "tiers": [kind[2] for kind in KINDS],
            "n_kinds": len(KINDS),
            "rows": self.rows,
            "start": start,
        }
        seconds, inserted = seconds_of(lambda: self.execute(statement, params))
        if inserted != self.rows:
            raise RuntimeError(f"inserted {inserted} records, not {self.rows}")
        self.vacuum()
        return seconds

    def raw_group_by(self) -> list[tuple]:
        return self.fetch(self.raw_sql)

    def daily_rows(self) -> list[tuple]:
        d = self.d
        return self.fetch(
            f"SELECT {d['organization']}, {d['api_key']}, {d['day']}, {d['tier']}, {d['model']}, "
            f"{d['requests']}, {d['prompt_tokens']}, {d['completion_tokens']}, {d['cost_usd']} "
            f"FROM {self.daily}"
        )

    def totals_equal(self) -> bool:
        def normal(rows):
            return sorted(tuple(int(v) if isinstance(v, Decimal) else v for v in row) for row in rows)

        return normal(self.raw_group_by()) == normal(self.daily_rows())

    def reset(self) -> None:
        """The roll-up back to the start (watermark 0, no daily rows), then a VACUUM ANALYZE, as after
        generating. Not timed. The records stay as they are: the roll-up never writes to them."""
        from billing.models import RollupState

        RollupState.objects.update(watermark=0, rolled_up_at=None)
        self.execute(f"TRUNCATE {self.daily}")
        self.vacuum()

    def rollup_with_phases(self) -> dict:
        """billing.rollup.usage_rollup itself, with a clock around every statement it sends (grouped by
        what the statement does); what is left is Python and the commits."""
        from billing.rollup import usage_rollup

        labels = {
            "LOCK TABLE": "horizon: LOCK TABLE .. IN SHARE MODE",
            "SELECT MAX(": "horizon: SELECT max(seq)",
            'INSERT INTO "BILLING_ROLLUPSTATE"': "state: INSERT .. ON CONFLICT DO NOTHING",
            'SELECT "BILLING_ROLLUPSTATE"': "state: SELECT .. FOR UPDATE",
            'SELECT "BILLING_USAGERECORD"': "sums: SELECT .. GROUP BY of the batch",
            'INSERT INTO "BILLING_DAILYUSAGE"': "daily: INSERT .. ON CONFLICT DO UPDATE",
            'UPDATE "BILLING_ROLLUPSTATE"': "state: UPDATE watermark",
        }
        phases: dict[str, float] = {}
        statements: dict[str, str] = {}

        def clock(execute, statement, params, many, context):
            words = " ".join(statement.split()).upper()
            label = next((label for start, label in labels.items() if start in words[:60]), None)
            label = label or f"other: {words[:40]}"
            started = time.perf_counter()
            try:
                return execute(statement, params, many, context)
            finally:
                phases[label] = phases.get(label, 0.0) + time.perf_counter() - started
                statements.setdefault(
                    label, self.connection.ops.last_executed_query(context["cursor"], statement, params)
                )

        with self.connection.execute_wrapper(clock):
            seconds, rolled = seconds_of(lambda: usage_rollup(batch_size=self.batch_size))
        return {"seconds": seconds, "rolled": rolled, "phases": phases, "statements": statements}

    def explain(self, statement: str) -> list[str]:
        """EXPLAIN (ANALYZE, BUFFERS) of a read-only statement."""
        return [row[0] for row in self.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}")]


def print_phases(report: dict) -> None:
    phases = report["phases"]
    print()
    print(f"phases (one more roll-up, every statement timed: {report['seconds']:.3f} s)")
    print(f"{'phase':<52}{'total s':>9}{'share':>7}")
    for label, total in phases.items():
        print(f"{label:<52}{total:>9.3f}{total / report['seconds']:>7.0%}")
    other = report["seconds"] - sum(phases.values())
    print(f"{'other (Python, commits)':<52}{other:>9.3f}{other / report['seconds']:>7.0%}")


def run(arguments) -> list[bool]:
    bench = Bench(arguments.rows, arguments.batch_size)
    from billing.rollup import usage_rollup

    print(f"generating {arguments.rows:,} usage records ...", flush=True)
    generate_seconds = bench.generate()
    print(
        f"generated in {generate_seconds:.1f} s "
        "(one INSERT ... SELECT FROM generate_series, then VACUUM ANALYZE)"
    )

    bench.raw_group_by()  # warm-up
    raw_times, rollup_times, equal = [], [], []
    for run_number in range(RUNS):
        seconds, groups = seconds_of(bench.raw_group_by)
        raw_times.append(seconds)
        if run_number:
            bench.reset()
        seconds, rolled = seconds_of(lambda: usage_rollup(batch_size=arguments.batch_size))
        if rolled != arguments.rows:
            raise RuntimeError(f"the roll-up rolled up {rolled} records, not {arguments.rows}")
        rollup_times.append(seconds)
        equal.append(bench.totals_equal())
        print(f"run {run_number + 1}: raw {raw_times[-1]:.3f} s, roll-up {seconds:.3f} s", flush=True)
    expected_groups = len(groups)

    phases = None
    if arguments.phases:
        bench.reset()
        phases = bench.rollup_with_phases()
        equal.append(bench.totals_equal())
        sums = phases["statements"].get("sums: SELECT .. GROUP BY of the batch")
        plan = bench.explain(sums) if sums else []

    raw, rollup = statistics.median(raw_times), statistics.median(rollup_times)
    ratio = rollup / raw
    rows = [
        ("raw SQL GROUP BY, all rows fetched", raw_times),
        (f"usage_rollup(batch_size={arguments.batch_size})", rollup_times),
    ]
    print()
    print(f"{'what':<40}{'runs':>5}{'median s':>10}{'min s':>8}{'max s':>8}{'records/s':>11}")
    for name, times in rows:
        median = statistics.median(times)
        print(
            f"{name:<40}{len(times):>5}{median:>10.3f}{min(times):>8.3f}{max(times):>8.3f}"
            f"{arguments.rows / median:>11,.0f}"
        )
    print()
    print(
        f"{arguments.rows:,} records, {expected_groups} (org, key, day, tier, model) groups, "
        f"batch size {arguments.batch_size:,}, "
        f"{-(-arguments.rows // arguments.batch_size)} batch(es) per roll-up"
    )
    print(f"totals equal: {'yes' if all(equal) else 'no'}")
    version = bench.fetch("SHOW server_version")[0][0]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"PostgreSQL {version}, {os.cpu_count()} cores, load average {load} (1, 5, 15 min) at the end")
    print(
        f"roll-up / raw GROUP BY: {ratio:.2f}x (target <= {TARGET}x) -> "
        f"{'meets' if ratio <= TARGET else 'misses'} the target"
    )
    if phases:
        print_phases(phases)
        print()
        print("the (first) batch's GROUP BY, EXPLAIN (ANALYZE, BUFFERS), run again after the roll-up:")
        print("\n".join(f"  {line}" for line in plan))
    return equal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: billing.rollup.BATCH_SIZE")
    parser.add_argument("--phases", action="store_true", help="time the roll-up's steps in an extra run")
    arguments = parser.parse_args()
    if arguments.rows < 1:
        return refuse("--rows must be at least 1")

    url = postgres_url()
    if url is None:
        return refuse(
            "this benchmark runs on PostgreSQL only; set DATABASE_URL to a postgres:// URL, e.g.\n"
            "  DATABASE_URL=postgres://nexevo:nexevo@127.0.0.1:5432/nexevo \\\n"
            "      .venv/bin/python bench/usage_rollup.py\n"
            "(it works in a throwaway database next to the one named, and drops it at the end)"
        )

    name = f"nexevo_bench_{secrets.token_hex(4)}"
    with maintenance_connection(url) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"throwaway database {name} created")
    try:
        environment = server_environment()
        environment["DATABASE_URL"] = with_database(url, name)
        prepare_database(environment)
        django_setup(environment)
        if arguments.batch_size is None:
            from billing.rollup import BATCH_SIZE

            arguments.batch_size = BATCH_SIZE
        equal = run(arguments)
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        drop_database(url, name)
        print(f"throwaway database {name} dropped")
    return 0 if all(equal) else 1


if __name__ == "__main__":
    raise SystemExit(main())
