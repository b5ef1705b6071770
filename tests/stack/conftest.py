"""Fixtures for the full-stack tests: their own Redis server, and the web server and Celery workers
as separate processes sharing the test database.

Processes share a database only on PostgreSQL (the SQLite test database lives in this process's
memory), so the tests that start them skip on SQLite; tests that need only Redis start their own
``redis-server`` and skip where it is not installed."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from .processes import REDIS_SERVER, RedisServer, StackProcess, stack_environment, start_web, start_worker


def _needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the stack's processes share the test database")


@pytest.fixture
def log_dir(tmp_path) -> Path:
    return tmp_path


@pytest.fixture
def redis_server(log_dir):
    """A Redis server of the test's own, on its own port."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip("needs redis-server (Debian's redis-server package)")
    server = RedisServer(log_dir).start()
    yield server
    server.stop()


@pytest.fixture
def forget_redis_outages():
    """The cache remembers an outage for a couple of seconds; each test starts without one."""
    from core import cache as cache_module

    cache_module._outage._down_until.clear()
    yield
    cache_module._outage._down_until.clear()


@pytest.fixture
def redis_cache(settings, redis_server, forget_redis_outages):
    """The default cache on the test's own Redis server, as in the full stack."""
    settings.REDIS_URL = redis_server.url()
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCacheWithFallback",
            "LOCATION": redis_server.url(),
            "KEY_PREFIX": "nexevo-stack-test",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.NEXEVO_KEY_CACHE_SECONDS = 30
    return redis_server


class Stack:
    def __init__(self, *, redis: RedisServer, log_dir: Path):
        self.redis = redis
        self.log_dir = log_dir
        database = connection.settings_dict
        self.env = stack_environment(
            database_url=(
                f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}"
                f":{database['PORT'] or 5432}/{database['NAME']}"
            ),
            redis_url=redis.url(),
            secret_key=settings.SECRET_KEY,
        )
        self.processes: list[StackProcess] = []
        self.web: StackProcess | None = None
        self.url = ""

    def start_web(self) -> str:
        self.web, self.url = start_web(env=self.env, log_dir=self.log_dir)
        self.processes.append(self.web)
        return self.url

    def start_worker(self, name: str = "worker", concurrency: int = 1) -> StackProcess:
        worker = start_worker(name, env=self.env, log_dir=self.log_dir, concurrency=concurrency)
        self.processes.append(worker)
        return worker

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def stack(transactional_db, redis_server, log_dir):
    """The full stack's processes on the test database and the test's own Redis server; the test
    starts the ones it needs."""
    _needs_postgresql()
    running = Stack(redis=redis_server, log_dir=log_dir)
    yield running
    running.stop()


@pytest.fixture
def celery_on_broker(redis_server):
    """This process's Celery app queuing to the test's own Redis server instead of running tasks
    in-process, as the web process of the full stack does."""
    from nexevo_site.celery import app as current_app

    saved = {key: current_app.conf[key] for key in ("broker_url", "task_always_eager")}
    current_app.conf.update(broker_url=redis_server.url(), task_always_eager=False)
    _forget_connections(current_app)
    yield current_app
    current_app.conf.update(saved)
    _forget_connections(current_app)


def _forget_connections(app):
    # Celery and kombu keep broker connection pools once made (kombu in a registry of its own);
    # closing and dropping them all makes the next use build them for the current URL.
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
