"""Processes the stack tests start and stop themselves: a Redis server on a port of its own (never
the shared one on 6379), the web server and Celery workers of the full stack."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PROJECT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}.")
        time.sleep(interval)


class RedisServer:
    """``redis-server`` on its own port, without persistence; ``stop()`` and ``start()`` again."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "RedisServer":
        log = open(self.log_dir / f"redis-{self.port}.log", "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.log_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self.answers, timeout=10, message=f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, keep_data: bool = False) -> None:
        """Stops the server; with ``keep_data`` it saves first, and ``start()`` loads it again."""
        if self.process is not None and self.process.poll() is None:
            if keep_data:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
                    connection.sendall(b"SHUTDOWN SAVE\r\n")
            else:
                self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not self.answers(), timeout=10, message="redis-server to stop")


class StackProcess:
    """One process of the full stack (web or worker), its output in a file the test can read."""

    def __init__(self, name: str, argv: list[str], *, env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(
            argv, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def stack_environment(*, database_url: str, redis_url: str, secret_key: str, **extra) -> dict:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "PYTEST_", "NEXEVO_", "REDIS_", "DATABASE_"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="nexevo_site.settings",
        NEXEVO_ENV="test",
        SECRET_KEY=secret_key,
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="0",
        REDIS_URL=redis_url,
        NEXEVO_WORKER_HEARTBEAT_SECONDS="1",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return environment


def start_web(*, env: dict, log_dir: Path) -> tuple[StackProcess, str]:
    port = free_port()
    web = StackProcess(
        "web",
        [
            str(VENV_BIN / "uvicorn"),
            "nexevo_site.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        log_dir=log_dir,
    )
    base_url = f"http://127.0.0.1:{port}"

    def answers():
        try:
            return httpx.get(f"{base_url}/healthz", timeout=5).status_code in (200, 503)
        except httpx.HTTPError:
            assert web.process.poll() is None, web.output()
            return False

    wait_until(answers, timeout=60, message="the web server")
    return web, base_url


def start_worker(name: str, *, env: dict, log_dir: Path, concurrency: int = 1) -> StackProcess:
    return StackProcess(
        name,
        [
            str(VENV_BIN / "celery"),
            "-A",
            "nexevo_site",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        env=env,
        log_dir=log_dir,
    )
