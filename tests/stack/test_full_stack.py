"""The full stack as separate processes (web, Celery worker) on the test's own Redis server: /healthz
says so, and stopping Redis turns it 503 while the site keeps serving, without losing an e-mail."""

import re

import httpx
import pytest

from tests.conftest import PASSWORD, make_user, new_key

from .processes import wait_until


def health(stack) -> httpx.Response:
    return httpx.get(f"{stack.url}/healthz", timeout=10)


def worker_is_up(stack) -> bool:
    response = health(stack)
    return response.status_code == 200 and response.json()["worker"]["status"] == "ok"


def sign_in(base_url: str, email: str) -> httpx.Client:
    browser = httpx.Client(base_url=base_url, timeout=10)
    page = browser.get("/accounts/login/")
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        "/accounts/login/", data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302, answer.text
    return browser


@pytest.fixture
def alice_up(stack):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    alice = make_user("alice@example.com", full_name="Alice Archer")
    # The stack's processes run the production settings, whose hashers do not include the test
    # suite's fast one.
    hasher = PBKDF2PasswordHasher()
    alice.password = hasher.encode(PASSWORD, hasher.salt())
    alice.save(update_fields=["password"])
    _api_key, full_key = new_key(alice)
    return alice, full_key


def test_it_reports_everything_up_when_it_is(stack, alice_up):
    stack.start_web()
    stack.start_worker()
    wait_until(lambda: worker_is_up(stack), timeout=60, message="a worker heartbeat")

    body = health(stack).json()
    assert body["status"] == "ok"
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert body["worker"]["last_heartbeat"].endswith("Z") and body["worker"]["age_seconds"] <= 3


def test_without_a_worker_it_is_503(stack):
    stack.start_web()
    response = health(stack)
    assert response.status_code == 503
    assert response.json()["worker"]["status"] == "missing"
    assert response.json()["redis"] == "ok"


def test_with_redis_stopped_pages_and_reads_keep_working_and_nothing_is_lost(stack, alice_up):
    alice, full_key = alice_up
    stack.start_web()
    worker = stack.start_worker()
    wait_until(lambda: worker_is_up(stack), timeout=60, message="a worker heartbeat")
    api = httpx.Client(base_url=stack.url, timeout=10, headers={"Authorization": f"Bearer {full_key}"})
    assert api.get("/v1/auth/me").status_code == 200  # the key is in the key cache now
    browser = sign_in(stack.url, alice.email)
    organization = api.post("/v1/organizations", json={"name": "Acme"}).json()["organization"]

    stack.redis.stop()

    response = health(stack)
    assert response.status_code == 503
    assert response.json()["redis"] == "down"
    assert response.json()["database"] == "ok"
    # Pages: the login page, a signed-in dashboard, and signing in afresh.
    assert httpx.get(f"{stack.url}/accounts/login/", timeout=10).status_code == 200
    assert browser.get("/dashboard/").status_code == 200
    assert sign_in(stack.url, alice.email).get("/dashboard/").status_code == 200
    # Read endpoints, with the key read from the database.
    me = api.get("/v1/auth/me")
    assert me.status_code == 200 and me.json()["email"] == alice.email
    assert api.get("/v1/keys").status_code == 200
    # A write that e-mails: the broker is down, so the e-mail goes out from the web process itself.
    invited = api.post(
        f"/v1/organizations/{organization['org_id']}/invitations",
        json={"email": "dora@example.com", "role": "developer"},
    )
    assert invited.status_code == 201, invited.text
    wait_until(lambda: "To: dora@example.com" in stack.web.output(), timeout=10, message="the e-mail")
    assert "running core.tasks.send_email in-process" in stack.web.output()

    stack.redis.start()  # on the same port, empty

    wait_until(lambda: health(stack).status_code == 200, timeout=60, message="/healthz to recover")
    assert api.get("/v1/auth/me").status_code == 200
    # Sent once: the worker never got the message, and the web process sent it once.
    assert stack.web.output().count("To: dora@example.com") == 1
    assert "dora@example.com" not in worker.output()
