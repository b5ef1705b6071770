"""What the benchmarks share: a throwaway server of the console, and a load generator.

A benchmark here compares two things measured in the same run on the same server (a baseline and
the thing under test) and reports their ratio, so the figures say something on any machine.
"""

import asyncio
import contextlib
import gc
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
IDLE_SECONDS = 4  # a load generator's connection idle this long is opened afresh before its next turn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment() -> dict:
    """The console's settings for a benchmark: production-like (no debug), a throwaway SQLite file
    unless DATABASE_URL points elsewhere, and no API throttle in the way of the load."""
    environment = dict(os.environ)
    environment.setdefault(
        "DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='nexevo-bench-')}/bench.sqlite3"
    )
    environment.update(
        {
            "NEXEVO_ENV": "development",
            "DJANGO_DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "NEXEVO_API_RATE": "100000000/minute",
            "DJANGO_SETTINGS_MODULE": "nexevo_site.settings",
        }
    )
    return environment


def prepare_database(environment: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=environment,
        check=True,
    )


def django_setup(environment: dict) -> None:
    os.environ.update(environment)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def funded_key(email: str, *, credit: str = "100000.00"):
    """The personal organization of the user ``email`` (made if missing), credited with ``credit``
    dollars, and a new key of it: what a benchmark sends its requests with (after ``django_setup``).
    Returns the organization, the key and the key in full."""
    from decimal import Decimal

    from accounts.models import User
    from apikeys.services import key_create
    from billing.models import EntryKind
    from billing.services import ledger_post
    from core.ids import new_id
    from orgs.selectors import personal_organization_of_user

    user, _ = User.objects.get_or_create(email=email)
    organization = personal_organization_of_user(user=user)
    api_key, full_key = key_create(organization=organization, created_by=user, name="bench")
    ledger_post(
        organization=organization,
        kind=EntryKind.ADJUSTMENT,
        amount=Decimal(credit),
        reference=new_id("adj"),
        description="benchmark credit",
    )
    return organization, api_key, full_key


class Server:
    """uvicorn serving the console's ASGI application on loopback, as bin/run does."""

    def __init__(self, environment: dict, *, root: Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "nexevo_site.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=root,
            env=environment,
        )

    def __enter__(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/v1/ping", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class Result:
    name: str
    concurrency: int
    latencies: list[float]
    seconds: float
    warm_up: int = 0  # requests sent before the measured ones

    @property
    def sent(self) -> int:
        return self.warm_up + len(self.latencies)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98] * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


class _Connection:
    """One keep-alive HTTP/1.1 connection of the load generator, sending one prepared request again
    and again. Leaner than a general client (the generator shares the machine's cores with what it
    measures), and each worker has a connection of its own: no pool to queue in."""

    def __init__(self, url: str, headers: dict, body: bytes | None):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        method = "GET" if body is None else "POST"
        lines = [f"{method} {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        self.reader = self.writer = None
        self.used = 0.0  # when it last answered

    async def open(self) -> None:
        """Opens the connection, or opens it afresh if it has been idle long enough for the server to
        have closed it (uvicorn closes a keep-alive connection idle for 5 s): called between turns,
        so that no measured request includes opening one."""
        if self.writer is not None and time.monotonic() - self.used < IDLE_SECONDS:
            return
        await self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.used = time.monotonic()

    async def send(self) -> tuple[int, bytes]:
        """The request once more: the status and the body."""
        if self.writer is None:
            await self.open()
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:  # chunked
            chunks = []
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            body = b"".join(chunks)
        self.used = time.monotonic()
        return int(status_line.split()[1]), body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None


async def _load(connections: list[_Connection], url: str, *, requests: int) -> tuple[list[float], float]:
    """``requests`` requests to ``url``, from one worker per connection."""
    latencies: list[float] = []
    remaining = iter(range(requests))

    async def worker(connection: _Connection):
        for _ in remaining:
            started = time.perf_counter()
            status, body = await connection.send()
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"{url} answered {status}: {body[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(connection) for connection in connections))
    return latencies, time.perf_counter() - started


def measure(
    name: str, url: str, headers: dict, *, requests: int, concurrency: int, body: bytes | None = None
) -> Result:
    """A warm-up of a tenth (at least 50 requests), then ``requests`` measured, on the same
    connections: the measured requests never include opening one."""
    [result] = measure_in_turns(
        {name: (url, headers)}, requests=requests, concurrency=concurrency, body=body, rounds=1
    )
    return result


def measure_in_turns(
    targets: dict[str, tuple[str, dict]],
    *,
    requests: int,
    concurrency: int,
    body: bytes | None = None,
    rounds: int = 5,
) -> list[Result]:
    """``requests`` to each target (name: (url, headers)), sent in ``rounds`` turns of one share per
    target, so that whatever else the machine does in the meantime falls on every target alike. Each
    target has its connections of its own, opened during a warm-up of a tenth (at least 50 requests).
    The order of the targets turns round by round."""
    warm_up = max(50, requests // 10)
    share = max(requests // rounds, 1)
    # What this process loaded so far (Django, when the benchmark set it up) is out of the garbage
    # collector's sight: a full collection would walk it all, a pause of the load generator that
    # would show as the server's latency.
    gc.collect()
    gc.freeze()

    async def run() -> list[Result]:
        connections = {
            name: [_Connection(url, headers, body) for _ in range(concurrency)]
            for name, (url, headers) in targets.items()
        }
        latencies = {name: [] for name in targets}
        seconds = dict.fromkeys(targets, 0.0)
        try:
            for name, (url, _headers) in targets.items():
                await _load(connections[name], url, requests=warm_up)
            names = list(targets)
            for turn in range(rounds):
                # Each round starts with the next target: no target is always the one measured last,
                # which an A/A run (the same server in both places) showed costs a few percent.
                for name in names[turn % len(names) :] + names[: turn % len(names)]:
                    url = targets[name][0]
                    await asyncio.gather(*(connection.open() for connection in connections[name]))
                    measured, elapsed = await _load(connections[name], url, requests=share)
                    latencies[name] += measured
                    seconds[name] += elapsed
        finally:
            for connection in sum(connections.values(), []):
                await connection.close()
        return [Result(name, concurrency, latencies[name], seconds[name], warm_up) for name in targets]

    return asyncio.run(run())


def print_table(results: list[Result]) -> None:
    print(f"{'what':<34}{'conc':>5}{'median ms':>11}{'p99 ms':>9}{'req/s':>9}")
    for result in results:
        print(
            f"{result.name:<34}{result.concurrency:>5}{result.median_ms:>11.2f}{result.p99_ms:>9.2f}"
            f"{result.throughput:>9.0f}"
        )
