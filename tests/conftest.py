"""Shared fixtures. The personas follow STYLE.md: Alice owns an organization, Bob belongs to it,
Charlie is an outsider. Every user gets a personal workspace on creation."""

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from accounts.models import User
from apikeys.services import key_create
from orgs.selectors import personal_organization_of_user

PASSWORD = "correct horse battery 42"


def make_user(email: str, *, full_name: str = "", verified: bool = True, **extra) -> User:
    user = User.objects.create_user(email=email, password=PASSWORD, full_name=full_name, **extra)
    if verified:
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        user.email_verified = True
        user.save(update_fields=["email_verified"])
    return user


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate-limit counters live in the cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language. A request in Chinese through the test client leaves
    Chinese active on the thread that served it (LocaleMiddleware activates the request's language
    and nothing deactivates it; async_to_sync runs sync views on the caller's thread), and what a later
    test renders outside a request would then come out in Chinese."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def alice(db):
    return make_user("alice@example.com", full_name="Alice Archer")


@pytest.fixture
def bob(db):
    return make_user("bob@example.com", full_name="Bob Baker")


@pytest.fixture
def charlie(db):
    return make_user("charlie@example.com", full_name="Charlie Chen")


def new_key(user, name="test key"):
    """A fresh key in the user's personal workspace: (ApiKey, full key)."""
    return key_create(organization=personal_organization_of_user(user=user), created_by=user, name=name)


@pytest.fixture
def alice_key(alice):
    return new_key(alice)


@pytest.fixture
def api():
    """An API client with no credentials; ``api_as(full_key)`` gives one with a Bearer key."""
    return APIClient()


@pytest.fixture
def api_as():
    def build(full_key: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
        return client

    return build


@pytest.fixture
def dns(monkeypatch):
    """A stub resolver at the network edge: ``dns["host"] = ["10.0.0.5"]`` answers for that host,
    ``dns["host"] = None`` makes it unresolvable; any other name is looked up for real."""
    import socket

    answers: dict[str, list[str] | None] = {}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        if answers[host] is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture(autouse=True)
def _ledger_adds_up(request):
    """After every test that used the database, every balance equals its ledger (verifyledger)."""
    database = next((name for name in ("transactional_db", "db") if name in request.fixturenames), None)
    if database is None:
        yield
        return
    request.getfixturevalue(database)  # so that this check runs before the database is torn down
    yield
    from io import StringIO

    from django.core.management import call_command

    call_command("verifyledger", stdout=StringIO())


@pytest.fixture(scope="session")
def fake_upstream():
    """The model provider on loopback (tests/fakes/upstream.py), one for the whole run."""
    from tests.fakes.upstream import FakeUpstream

    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def stripe(settings):
    """Stripe configured against the fake Stripe server on loopback."""
    from tests.fakes.stripe_server import FakeStripe

    with FakeStripe() as fake:
        settings.STRIPE_SECRET_KEY = "sk_test_nexevo"
        settings.STRIPE_WEBHOOK_SECRET = "whsec_test_nexevo"
        settings.STRIPE_API_BASE = fake.url
        yield fake


@pytest.fixture(autouse=True)
def _default_prices(request):
    """Tests on a flushed database (transactional ones, the live server) get the plans and model
    prices back that the data migration ships; the others have them from the migration itself."""
    if not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    import importlib

    from django.apps import apps

    request.getfixturevalue("transactional_db")
    importlib.import_module("billing.migrations.0002_default_prices").add_prices(apps, None)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """On the embedded defaults the tests of the production path (PostgreSQL, Redis, the full stack's
    processes) skip; say how many, and how to run them, where a newcomer's green run ends."""
    reasons = [
        str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for report in terminalreporter.stats.get("skipped", [])
    ]
    production = [reason for reason in reasons if "postgresql" in reason.lower() or "redis" in reason.lower()]
    if production:
        terminalreporter.write_line(
            f"{len(production)} tests of the production path (PostgreSQL, Redis, the stack's processes) "
            "were skipped. To run them: bin/services, then\n  DATABASE_URL=postgres://nexevo:nexevo@"
            "127.0.0.1:5432/nexevo REDIS_URL=redis://127.0.0.1:6379/15 bin/test",
            yellow=True,
            bold=True,
        )
