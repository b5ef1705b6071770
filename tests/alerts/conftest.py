"""Fixtures for spend alerts: a trusted test CA, HTTPS receivers on loopback, keys whose webhook points
at them, and (on PostgreSQL with Redis) a real Celery worker process."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from apikeys.models import ApiKey
from apikeys.services import key_create, new_webhook_secret
from orgs.selectors import personal_organization_of_user
from tests.alerts.receiver import Receiver, make_certificates

BASE_DIR = Path(django_settings.BASE_DIR)
LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def alert_settings(settings, certificates):
    """Deliveries trust the test CA and may reach loopback; retries are immediate and the deadline
    short, so tests run in seconds."""
    settings.ALERT_WEBHOOK_CA_BUNDLE = str(certificates.ca)
    settings.ALERT_WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    settings.ALERT_WEBHOOK_RETRY_DELAYS = [0, 0]
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 2
    settings.ALERT_WEBHOOK_LEASE_SECONDS = 5
    return settings


@pytest.fixture
def receiver(certificates):
    """``receiver(answers=[500, 200], host="127.0.0.1")`` starts one; all stop after the test."""
    started = []

    def start(**options) -> Receiver:
        server = Receiver(certificates, **options).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


def key_with_webhook(user, url: str, *, cap: str | None = "1.00", thresholds=None, name="prod"):
    """A key in the user's workspace whose webhook is ``url``. The address is written directly: the
    key service (rightly) refuses loopback addresses, which is where the test receivers live."""
    api_key, _full_key = key_create(
        organization=personal_organization_of_user(user=user),
        created_by=user,
        name=name,
        monthly_spend_cap_usd=cap,
        alert_thresholds_pct=thresholds,
    )
    ApiKey.objects.filter(pk=api_key.pk).update(alert_webhook_url=url, webhook_secret=new_webhook_secret())
    return ApiKey.objects.select_related("organization", "created_by").get(pk=api_key.pk)


@pytest.fixture
def staff_client(alice):
    """Alice as staff, signed in with her second factor, as Django admin requires."""
    from django.test import Client

    from tests.accounts.helpers import enable_two_factor
    from tests.conftest import PASSWORD

    alice.is_staff = alice.is_superuser = True
    alice.save()
    _device, codes = enable_two_factor(alice)
    client = Client()
    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    client.post("/accounts/2fa/verify/", {"code": codes[0]})
    return client


# --- A real worker (PostgreSQL and Redis only) ------------------------------------------------------


def needs_postgres_and_redis():
    return pytest.mark.skipif(
        connection.vendor != "postgresql" or not django_settings.REDIS_URL,
        reason="needs PostgreSQL, Redis and a Celery worker process",
    )


class Worker:
    """``celery -A nexevo_site worker --pool=solo`` on the test database and the test Redis."""

    def __init__(self, log_path: Path, environment: dict[str, str]):
        self.log_path = log_path
        self.environment = environment
        self.process = None

    def start(self, timeout: float = 60) -> "Worker":
        self.log = self.log_path.open("ab")
        self.started_at = self.log_path.stat().st_size
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "nexevo_site",
                "worker",
                "--pool=solo",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=INFO",
            ],
            cwd=BASE_DIR,
            env=self.environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log_path.read_bytes()[self.started_at :]:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"The worker did not start:\n{self.log_path.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, exactly what a crash looks like."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def worker_factory(transactional_db, settings, certificates, tmp_path):
    """Starts workers on demand (``worker_factory()``); the test process queues to Redis meanwhile."""
    from nexevo_site.celery import app

    database = connection.settings_dict
    environment = {
        **os.environ,
        "PYTHONPATH": str(BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "tests.alerts.worker_settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "REDIS_URL": django_settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ALERT_WEBHOOK_CA_BUNDLE": str(certificates.ca),
        "ALERT_WEBHOOK_RETRY_DELAYS": "1,1",
        "ALERT_WEBHOOK_TIMEOUT_SECONDS": "4",
        "ALERT_WEBHOOK_LEASE_SECONDS": "5",
    }
    # Read before the settings change: Celery may read its configuration from them only now.
    was_eager = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    workers = []

    def start() -> Worker:
        worker = Worker(tmp_path / "worker.log", environment).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.conf.task_always_eager = was_eager


@pytest.fixture
def beat():
    """Plays Celery beat for the test: queues ``deliver_due_webhooks`` every half second."""
    from alerts.tasks import deliver_due_webhooks

    stopped = threading.Event()

    def tick():
        while not stopped.wait(0.5):
            deliver_due_webhooks.delay()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stopped.set()
    thread.join(5)
