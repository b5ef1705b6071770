"""schemathesis against ``/v1/openapi.json``, with an owner's key and with a developer's: no answer is a
5xx, and every answer conforms to the document (a documented status, its content type, headers and
body schema).

The API is called in this process, through Django's WSGI application (``schemathesis.openapi.
from_wsgi``), inside the test's transaction: no server, no port, and nothing left behind. Path
parameters are sometimes replaced with the ids of real objects (a conversation with messages, a
spare key, the organization, a pending invitation, a member), so that the answers about existing
objects are checked too, not only 404s.

Bounded so that it adds about a minute to each pass of CI: each operation gets its explicit examples,
schemathesis' coverage cases (boundaries and invalid values of every parameter, a fixed set) and
``FUZZ_EXAMPLES`` generated ones, derandomized so that a run is the same every time (a failure
found once is found again). ``SCHEMATHESIS_EXAMPLES=200`` runs a deeper search by hand.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.config import SchemathesisConfig

from apikeys.services import key_create
from conversations.services import conversation_create, message_append
from gateway import routing
from gateway.services import providers_load
from orgs.models import Invitation
from tests.billing.helpers import credit
from tests.orgs.helpers import acme_with

FUZZ_EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))

CONFIG = {
    "generation": {"max-examples": FUZZ_EXAMPLES, "deterministic": True, "database": "none"},
    # Methods an address does not take answer 405 with the error envelope everywhere (core.api);
    # checked once in tests/core rather than for every operation here.
    "phases": {"stateful": {"enabled": False}, "coverage": {"unexpected-methods": []}},
    "checks": {
        # What the acceptance asks: no 5xx, and answers that conform to the document.
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
        # Business rules the document cannot state (a webhook host must resolve to a public address,
        # a plan change needs the balance), so schema-valid input may rightly be refused.
        "positive_data_acceptance": {"enabled": False},
        # Unknown fields are ignored, as Stripe and OpenAI do, rather than refused.
        "negative_data_rejection": {"enabled": False},
        "missing_required_header": {"enabled": False},
        "unsupported_method": {"enabled": False},
        "use_after_free": {"enabled": False},
        "ensure_resource_availability": {"enabled": False},
        "ignored_auth": {"enabled": False},
    },
}


@pytest.fixture(params=["owner", "developer"])
def persona(request):
    return request.param


def healthy_providers(upstream) -> dict:
    """Two providers on the loopback provider that answer at once, in both regions, and the pools
    over them: a fuzzed chat request that passes every check is served, never left to time out."""
    price = {"input_per_million_usd": "1.00", "output_per_million_usd": "2.00"}
    return {
        "providers": [
            {"id": "west", "base_url": upstream.url("ok"), "region": "overseas", "api_key": "sk-west"},
            {"id": "east", "base_url": upstream.url("ok"), "region": "cn", "api_key": "sk-east"},
        ],
        "models": [
            {"id": "west/chat-a", "provider": "west", "capabilities": {"tools": True}, **price},
            {"id": "east/chat-c", "provider": "east", **price},
        ],
        "pools": {"fast": ["west/chat-a", "east/chat-c"], "balanced": ["west/chat-a"]},
    }


@pytest.fixture
def world(alice, bob, stripe, dns, monkeypatch, fake_upstream):
    """Alice owns Acme, where Bob is a developer; each has a key that acts in Acme, which holds
    $50 to spend on the models of the provider on loopback."""
    dns["hooks.example.com"] = ["93.184.216.34"]
    # The API's per-user throttle (600 a minute) would turn most of the run into 429s.
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "100000/minute")
    providers_load(healthy_providers(fake_upstream))
    routing.reseed(1234)
    acme = acme_with(alice, developer=bob)
    credit(acme, "50.00")
    conversation = conversation_create(
        organization=acme, user=alice, title="Support", metadata={"topic": "x"}
    )
    for number in range(3):
        message_append(organization=acme, conversation_id=conversation.id, role="user", content=f"m{number}")
    invitation = Invitation.objects.create(
        organization=acme,
        email="dana@example.com",
        role="developer",
        invited_by=alice,
        sent_at="2026-01-01T00:00:00Z",
        expires_at="2099-01-01T00:00:00Z",
    )
    spare_key, _ = key_create(organization=acme, created_by=alice, name="spare")
    _, alice_full_key = key_create(organization=acme, created_by=alice, name="owner's")
    _, bob_full_key = key_create(organization=acme, created_by=bob, name="developer's")
    return {
        "keys": {"owner": alice_full_key, "developer": bob_full_key},
        "ids": {
            "org_id": [acme.id],
            "conversation_id": [conversation.id],
            "key_id": [spare_key.id],
            "invitation_id": [invitation.id],
            "user_id": [alice.id, bob.id],
            "model_id": ["west/chat-a", "nexevo/fast"],
        },
    }


def load_schema():
    """The document, served by the application itself. Collection has no database; serving the
    document needs none."""
    return schemathesis.openapi.from_wsgi(
        "/v1/openapi.json", get_wsgi_application(), config=SchemathesisConfig.from_dict(CONFIG)
    )


schema = load_schema()

# How many real objects of each kind ``world`` makes, for the path parameters that name one.
REAL_OBJECTS = {
    "org_id": 1,
    "conversation_id": 1,
    "key_id": 1,
    "invitation_id": 1,
    "user_id": 2,
    "model_id": 2,
}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """The generated ids, or stand-ins for real objects (``real:user_id:1``) that the test swaps for
    the ids ``world`` made: objects exist only once the test runs, after the cases are planned."""
    if not path_parameters:
        return st.just(path_parameters)
    stand_ins = {
        name: st.sampled_from([f"real:{name}:{index}" for index in range(REAL_OBJECTS[name])])
        if name in REAL_OBJECTS
        else st.just(value)
        for name, value in path_parameters.items()
    }
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries(stand_ins))


@pytest.fixture
def wsgi_calls_keep_the_test_transaction():
    """Django's test client keeps the test's connection (and its transaction) across requests by
    disconnecting these receivers; calls through the WSGI application have to do the same."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
# ``world`` is made once per operation and persona, not per example: the examples share its objects
# (one deletes the conversation, the next gets a 404), which is what a client's calls would do too.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_it_answers_every_operation_as_the_schema_says(
    case, world, persona, wsgi_calls_keep_the_test_transaction
):
    for name, value in (case.path_parameters or {}).items():
        if isinstance(value, str) and value.startswith("real:"):
            _, kind, index = value.split(":")
            case.path_parameters[name] = world["ids"][kind][int(index)]
    case.call_and_validate(headers={"Authorization": f"Bearer {world['keys'][persona]}"})
