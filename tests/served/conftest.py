"""The console served the documented ways, as real processes: ``bin/web`` (which bin/run, the
Procfile and bin/production start the web server through) and ``bin/production``.

Each server gets a SQLite database of its own, a copy of one migrated once per session that holds a
user and an API key, so these tests run the same on SQLite and on PostgreSQL and never touch the
suite's database or a developer's ``db.sqlite3``."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.stack.processes import free_port, wait_until

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
EMAIL = "served@example.com"
PASSWORD = "a served password 42"


def environment(database: Path, **extra) -> dict:
    """This process's environment less the suite's settings, with ``database`` and ``extra``."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "PYTEST_", "NEXEVO_", "REDIS_", "DATABASE_", "TRUSTED_"))
        and key not in {"SECRET_KEY", "ALLOWED_HOSTS", "STATIC_ROOT", "PORT", "HOST", "FORWARDED_ALLOW_IPS"}
    }
    return {**kept, "DATABASE_URL": f"sqlite:///{database}", "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class Template:
    path: Path
    full_key: str


@pytest.fixture(scope="session")
def template_database(tmp_path_factory) -> Template:
    """A migrated SQLite database with one user (``EMAIL``) and an API key of theirs."""
    path = tmp_path_factory.mktemp("served") / "template.sqlite3"
    env = environment(path)
    manage = [PYTHON, "manage.py"]
    run = {"cwd": PROJECT, "env": env, "check": True, "capture_output": True, "text": True, "timeout": 300}
    subprocess.run([*manage, "migrate", "--noinput"], **run)
    subprocess.run(
        [*manage, "createsuperuser", "--no-input", "--email", EMAIL],
        **{**run, "env": {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}},
    )
    full_key = subprocess.run([*manage, "createapikey", "--email", EMAIL, "--name", "served"], **run).stdout
    return Template(path=path, full_key=full_key.strip())


@pytest.fixture
def database(template_database, tmp_path) -> Path:
    """A fresh copy of the template database for one test."""
    path = tmp_path / "db.sqlite3"
    shutil.copyfile(template_database.path, path)
    return path


def query(database: Path, sql: str, *parameters) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql, parameters).fetchall()


class Served:
    """A server process started by one of bin/'s scripts, its output (stdout and stderr) in a file."""

    def __init__(self, argv: list[str], *, env: dict, log_path: Path, port: int):
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        log = open(log_path, "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(
            argv, cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_serving(self, *, headers: dict | None = None, timeout: float = 180) -> "Served":
        def answers():
            assert self.process.poll() is None, self.output()
            try:
                return httpx.get(f"{self.url}/healthz", headers=headers or {}, timeout=5).status_code
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=timeout, message=f"{self.process.args[0]} to serve")
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def serve(tmp_path):
    """``serve(script, *arguments, env=...)`` starts ``bin/<script>`` on a free port (its ``--port``, or
    ``PORT`` for bin/production) and stops it after the test."""
    started: list[Served] = []

    def start(script: str, *arguments: str, env: dict) -> Served:
        port = free_port()
        argv = [str(PROJECT / "bin" / script), *arguments]
        if script == "web":
            argv += ["--host", "127.0.0.1", "--port", str(port)]
        server = Served(argv, env={**env, "PORT": str(port)}, log_path=tmp_path / f"{script}.log", port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
