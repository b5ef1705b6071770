"""With Redis stopped: the cache falls back to memory, the key cache to the database, e-mail to
sending in-process, and what needs Redis answers 503. Each test stops its own Redis server."""

import pytest
from django.core import mail
from django.core.cache import cache

from apikeys.services import InvalidApiKey, key_authenticate, key_revoke
from core import cache as cache_module
from core.cache import CacheUnavailable, shared_cache
from core.ratelimit import attempt_allowed


@pytest.fixture(autouse=True)
def _retry_redis_at_once(monkeypatch):
    # The cache leaves Redis alone for a couple of seconds after a failure; these tests do not wait.
    monkeypatch.setattr(cache_module, "RETRY_AFTER_SECONDS", 0)


def test_the_cache_falls_back_to_memory_while_redis_is_down(redis_cache):
    cache.set("greeting", "from redis", timeout=60)

    redis_cache.stop()

    assert cache.get("greeting") is None  # Redis's copy is out of reach; nothing fails
    cache.set("greeting", "from memory", timeout=60)
    assert cache.get("greeting") == "from memory"
    with pytest.raises(CacheUnavailable):
        shared_cache().get("greeting")

    redis_cache.start()

    assert cache.get("greeting") is None  # Redis again (a restarted, empty one)
    assert shared_cache().get("greeting") is None


def test_rate_limits_keep_counting_while_redis_is_down(redis_cache):
    redis_cache.stop()

    verdicts = [attempt_allowed("otp", "u_1", limit=3, window_seconds=60) for _ in range(5)]

    assert verdicts == [True, True, True, False, False]


def test_the_key_cache_reads_the_database_while_redis_is_down(redis_cache, alice_key, api_as):
    api_key, full_key = alice_key
    client = api_as(full_key)
    assert client.get("/v1/auth/me").status_code == 200  # cached in Redis

    redis_cache.stop()

    assert client.get("/v1/auth/me").status_code == 200
    assert client.get("/v1/keys").status_code == 200
    key_revoke(api_key=api_key, actor=api_key.created_by)
    assert client.get("/v1/auth/me").status_code == 401


def test_a_revocation_during_an_outage_reaches_the_cache_when_redis_returns(redis_cache, alice_key):
    api_key, full_key = alice_key
    key_authenticate(full_key)
    assert cache.get(f"apikey:{api_key.key_hash}") is not None  # the entry, in Redis

    redis_cache.stop(keep_data=True)
    key_revoke(api_key=api_key, actor=api_key.created_by)  # its tombstone cannot be written now
    redis_cache.start()  # the entry from before the outage is back

    with pytest.raises(InvalidApiKey):
        key_authenticate(full_key)
    assert cache.get(f"apikey:{api_key.key_hash}") == "forgotten"


def test_e_mail_is_sent_in_process_when_the_broker_is_down(
    db, redis_server, celery_on_broker, django_capture_on_commit_callbacks
):
    from core.email import send_templated_after_commit
    from orgs.models import Invitation

    redis_server.stop()
    invitation = Invitation(email="dora@example.com", role="developer")
    with django_capture_on_commit_callbacks(execute=True):
        send_templated_after_commit(
            "orgs/email/invitation",
            to=["dora@example.com"],
            context={
                "invitation": invitation,
                "organization": {"name": "Acme"},
                "inviter": {"get_full_name": "Alice"},
                "accept_url": "http://127.0.0.1:8000/invitations/x/",
                "days": 7,
            },
        )

    assert [message.to for message in mail.outbox] == [["dora@example.com"]]


def test_e_mail_is_queued_when_the_broker_is_up(
    db, redis_server, celery_on_broker, django_capture_on_commit_callbacks
):
    import redis

    from core.email import send_after_commit

    message = mail.EmailMessage("Hello", "Body", "from@example.com", ["dora@example.com"])
    with django_capture_on_commit_callbacks(execute=True):
        send_after_commit(message)

    assert mail.outbox == []  # for a worker to send
    assert redis.Redis.from_url(redis_server.url()).llen("celery") == 1
