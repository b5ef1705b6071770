"""``/v1/openapi.json`` against the API, in the ways a client relies on: each operation is called
for real (with real objects, and in the ways it fails), and what it answers must be a status the
document lists for it, with a body that validates against the schema it gives for that status.
Lists are the ``{data, has_more, next_cursor}`` envelope with ``limit`` and ``cursor``; every error is
the error envelope; the limits the document states are the ones the API holds to."""

import json
import re

import jsonschema
import pytest
from rest_framework.test import APIClient

from apikeys.services import key_create
from billing.models import TopUp
from conversations.services import conversation_create, message_append
from gateway import routing
from gateway.models import Provider
from gateway.services import providers_load
from orgs.models import Invitation
from tests.billing.helpers import credit, use
from tests.conftest import new_key
from tests.fakes.stripe_server import event, sign
from tests.gateway.conftest import catalog_for, sse_events
from tests.orgs.helpers import acme_with


@pytest.fixture
def document(api):
    response = api.get("/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


def to_json_schema(node):
    """OpenAPI 3.0's dialect as JSON Schema: ``nullable: true`` becomes "or null"."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: to_json_schema(value) for key, value in node.items() if key != "example"}
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def template_of(document, method: str, path: str) -> str:
    """The document's path template that ``path`` is an address of."""
    template = next(
        (
            candidate
            for candidate in document["paths"]
            if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(candidate)), path)
        ),
        None,
    )
    assert template is not None, f"{path} is not in the document"
    assert method.lower() in document["paths"][template], f"{method} {template} is not in the document"
    return template


def operation_of(document, method: str, path: str) -> dict:
    return document["paths"][template_of(document, method, path)][method.lower()]


def assert_documented(document, method: str, path: str, response) -> None:
    """The answer's status is one the document lists for the operation, and its body validates."""
    operation = operation_of(document, method, path)
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method} {path} answered {status}, documented: {sorted(operation['responses'])}: "
        f"{response.content[:300]!r}"
    )
    content = operation["responses"][status].get("content")
    if content is None:
        assert not response.content, f"{method} {path} {status} is documented without a body"
        return
    schema = to_json_schema(content["application/json"]["schema"])
    validator = jsonschema.Draft7Validator(
        {**schema, "components": to_json_schema(document["components"])},
        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, f"{method} {path} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"


@pytest.fixture
def world(alice, bob, stripe, dns, fake_upstream):
    """Alice owns Acme, where Bob is a developer; Alice's key acts in Acme, and Acme has a
    conversation with messages, a pending invitation, a generation, a payment, a spare key and $10;
    the models are served by the provider on loopback (tests/fakes/upstream.py)."""
    dns["hooks.example.com"] = ["93.184.216.34"]
    providers_load(catalog_for(fake_upstream))
    routing.reseed(1234)
    acme = acme_with(alice, developer=bob)
    credit(acme, "10.00")
    alice_key, alice_full_key = key_create(organization=acme, created_by=alice, name="ci")
    spare_key, _ = key_create(organization=acme, created_by=alice, name="spare")
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
    generation = use(alice_key, "nexevo/balanced", served="openai/gpt-4o")
    return {
        "acme": acme,
        "alice_key": alice_key,
        "full_key": alice_full_key,
        "spare_key": spare_key,
        "conversation": conversation,
        "invitation": invitation,
        "generation": generation,
    }


HELLO = {"model": "nexevo/balanced", "messages": [{"role": "user", "content": "Hello there"}]}


def calls(world, bob) -> list[tuple[str, str, dict | None, int]]:
    """(method, path, JSON body or query, the status it answers), for every operation."""
    acme, conversation = world["acme"].id, world["conversation"].id
    key, invitation = world["spare_key"].id, world["invitation"].id
    return [
        ("GET", "/v1/ping", None, 200),
        ("POST", "/v1/chat/completions", HELLO, 200),
        ("GET", "/v1/models", None, 200),
        ("GET", "/v1/models/west%2Fchat-a", None, 200),  # as an OpenAPI client encodes the slash
        ("GET", "/v1/auth/me", None, 200),
        ("PATCH", "/v1/auth/profile", {"full_name": "Alice A."}, 200),
        ("GET", "/v1/auth/2fa", None, 200),
        ("POST", "/v1/auth/change-password", {"current_password": "wrong", "new_password": "x" * 12}, 400),
        ("GET", "/v1/keys", {"limit": 1}, 200),
        ("POST", "/v1/keys", {"name": "new", "monthly_spend_cap_usd": "100", "routing_policy": "any"}, 201),
        ("GET", f"/v1/keys/{key}", None, 200),
        ("PATCH", f"/v1/keys/{key}", {"name": "renamed", "alert_thresholds_pct": [50, 90]}, 200),
        ("POST", f"/v1/keys/{key}/spend-cap", {"monthly_spend_cap_usd": "25.5"}, 200),
        ("POST", f"/v1/keys/{key}/routing-policy", {"routing_policy": "cn-only"}, 200),
        ("POST", f"/v1/keys/{key}/alert-webhook", {"url": "https://hooks.example.com/nexevo"}, 200),
        ("POST", f"/v1/keys/{key}/webhook-secret/rotate", None, 200),
        ("POST", f"/v1/keys/{key}/alert-webhook", {"url": None}, 200),
        ("POST", f"/v1/keys/{key}/revoke", None, 200),
        ("POST", f"/v1/keys/{key}/routing-policy", {"routing_policy": "any"}, 409),
        ("GET", "/v1/billing/balance", None, 200),
        ("GET", "/v1/billing/usage", {"days": 366}, 200),
        ("GET", "/v1/billing/plan", None, 200),
        ("POST", "/v1/billing/plan", {"plan_id": "pro"}, 402),
        ("GET", "/v1/billing/upgrade-hint", None, 200),
        ("POST", "/v1/billing/checkout", {"amount_usd": "20.00", "idempotency_key": "k1"}, 200),
        ("POST", "/v1/billing/checkout", {"amount_usd": "30.00", "idempotency_key": "k1"}, 409),
        ("GET", "/v1/billing/transactions", {"limit": 1}, 200),
        ("GET", "/v1/conversations", {"limit": 1, "metadata[topic]": "x"}, 200),
        ("POST", "/v1/conversations", {"title": "New", "metadata": {"a": 1.5}}, 201),
        ("GET", f"/v1/conversations/{conversation}", {"message_limit": 2}, 200),
        ("PATCH", f"/v1/conversations/{conversation}", {"title": None}, 200),
        ("GET", f"/v1/conversations/{conversation}/messages", {"limit": 2, "order": "desc"}, 200),
        (
            "POST",
            f"/v1/conversations/{conversation}/messages",
            {"role": "tool", "content": "x", "name": "f"},
            201,
        ),
        (
            "POST",
            f"/v1/conversations/{conversation}/messages",
            {"role": "user", "content": "x" * 100_001},
            413,
        ),
        ("POST", "/v1/feedback", {"generation_id": world["generation"].id, "rating": 1, "tags": ["ok"]}, 201),
        ("POST", "/v1/feedback", {"generation_id": world["generation"].id, "rating": -1}, 200),
        ("POST", "/v1/feedback", {"generation_id": "gen_unknown", "rating": -1}, 404),
        ("GET", "/v1/feedback/summary", {"days": 1}, 200),
        ("GET", "/v1/organizations", {"limit": 1}, 200),
        ("POST", "/v1/organizations", {"name": "Globex"}, 201),
        ("GET", f"/v1/organizations/{acme}", None, 200),
        ("GET", f"/v1/organizations/{acme}/invitations", None, 200),
        (
            "POST",
            f"/v1/organizations/{acme}/invitations",
            {"email": "erin@example.com", "role": "admin"},
            201,
        ),
        ("POST", f"/v1/organizations/{acme}/invitations", {"email": "bob@example.com", "role": "admin"}, 409),
        ("DELETE", f"/v1/organizations/{acme}/invitations/{invitation}", None, 200),
        ("GET", f"/v1/organizations/{acme}/members", {"limit": 1}, 200),
        ("PATCH", f"/v1/organizations/{acme}/members/{bob.id}", {"role": "admin"}, 200),
        ("POST", f"/v1/organizations/{acme}/transfer-owner", {"new_owner_user_id": "u_nobody"}, 400),
        ("DELETE", f"/v1/organizations/{acme}/members/{bob.id}", None, 204),
        ("DELETE", f"/v1/conversations/{conversation}", None, 204),
        ("POST", "/v1/billing/stripe/webhook", None, 400),
    ]


def send(client, method: str, path: str, data):
    if method == "GET":
        return client.get(path, data or {})
    return getattr(client, method.lower())(path, data, format="json")


def test_it_answers_every_operation_as_the_document_says(document, api_as, world, bob):
    client = api_as(world["full_key"])
    called = set()
    for method, path, data, status in calls(world, bob):
        response = send(client, method, path, data)
        assert response.status_code == status, (method, path, response.content[:300])
        assert_documented(document, method, path, response)
        called.add((method, template_of(document, method, path)))

    documented = {
        (method.upper(), path) for path, operations in document["paths"].items() for method in operations
    }
    assert documented - called == set(), "operations this test never calls"


def test_it_answers_a_signed_stripe_event_as_documented(document, api, world):
    payload = event("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_1")

    response = api.post(
        "/v1/billing/stripe/webhook",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, "whsec_test_nexevo"),
    )

    assert response.status_code == 200
    assert_documented(document, "POST", "/v1/billing/stripe/webhook", response)


def test_it_documents_every_list_as_the_envelope_with_its_limits(document, api_as, world, bob):
    client = api_as(world["full_key"])
    lists = 0
    for method, path, data, _status in calls(world, bob):
        if method != "GET":
            continue
        body = send(client, method, path, data).json()
        operation = operation_of(document, method, path)
        answered_a_list = isinstance(body, dict) and set(body) == {"data", "has_more", "next_cursor"}
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        component = (
            document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            if "$ref" in schema
            else schema
        )
        assert answered_a_list == (
            set(component.get("properties", {})) == {"data", "has_more", "next_cursor"}
        ), path
        if not answered_a_list:
            continue
        lists += 1
        assert component["properties"]["data"]["type"] == "array"
        assert set(component["required"]) == {"data", "has_more", "next_cursor"}
        parameters = {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]}
        assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
        assert parameters["cursor"]["type"] == "string"
    assert lists == 7


@pytest.mark.parametrize(("path", "name"), [("/v1/billing/usage", "days"), ("/v1/feedback/summary", "days")])
def test_it_holds_to_the_query_limits_it_documents(document, api_as, world, path, name):
    client = api_as(world["full_key"])
    operation = operation_of(document, "GET", path)
    limits = next(parameter["schema"] for parameter in operation["parameters"] if parameter["name"] == name)

    assert (limits["minimum"], limits["maximum"]) == (1, 366)
    for value, status in (
        (limits["minimum"], 200),
        (limits["maximum"], 200),
        (0, 400),
        (limits["maximum"] + 1, 400),
    ):
        response = client.get(path, {name: value})
        assert response.status_code == status, value
        assert_documented(document, "GET", path, response)


@pytest.mark.parametrize("limit", [0, 101])
def test_it_holds_to_the_page_size_it_documents(document, api_as, world, limit):
    response = api_as(world["full_key"]).get("/v1/keys", {"limit": limit})

    assert response.status_code == 400
    assert_documented(document, "GET", "/v1/keys", response)


@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("/v1/organizations", "name", {}),
        ("/v1/keys", "name", {}),
        ("/v1/conversations", "title", {}),
        ("/v1/feedback", "comment", {"rating": 1}),
    ],
)
def test_it_holds_to_the_string_lengths_it_documents(document, api_as, world, path, field, extra):
    client = api_as(world["full_key"])
    request_schema = operation_of(document, "POST", path)["requestBody"]["content"]["application/json"][
        "schema"
    ]
    component = document["components"]["schemas"][request_schema["$ref"].rsplit("/", 1)[-1]]
    longest = component["properties"][field]["maxLength"]
    if path == "/v1/feedback":
        extra = {**extra, "generation_id": world["generation"].id}

    assert client.post(path, {field: "x" * longest, **extra}, format="json").status_code in (200, 201)
    response = client.post(path, {field: "x" * (longest + 1), **extra}, format="json")
    assert response.status_code == 400
    assert_documented(document, "POST", path, response)


def test_it_documents_money_as_decimal_strings(document):
    schemas = document["components"]["schemas"]
    money = {
        ("Balance", "balance_usd"),
        ("ApiKey", "monthly_spend_cap_usd"),
        ("ApiKey", "month_to_date_spend_usd"),
        ("Transaction", "amount_usd"),
        ("UsageTotals", "cost_usd"),
        ("CheckoutSession", "amount_usd"),
        ("Plan", "monthly_fee_usd"),
    }
    for component, field in money:
        schema = schemas[component]["properties"][field]
        assert schema["type"] == "string" and schema["pattern"].startswith("^-?[0-9]+\\."), (component, field)
    checkout = schemas["Checkout"]["properties"]["amount_usd"]
    assert {option["type"] for option in checkout["oneOf"]} == {"string", "number"}


@pytest.mark.parametrize(
    ("method", "path", "data", "headers", "status"),
    [
        ("GET", "/v1/keys", None, {}, 401),
        ("POST", "/v1/conversations", "not json", {"content_type": "text/plain"}, 415),
        ("POST", "/v1/conversations", "{not json", {"content_type": "application/json"}, 400),
        ("GET", "/v1/conversations", {"cursor": "forged"}, {}, 400),
        ("GET", "/v1/keys/key_unknown", None, {}, 404),
        ("POST", "/v1/conversations", {"title": "a\x00"}, {}, 400),
    ],
)
def test_it_documents_the_errors_it_answers(
    document, api, api_as, world, method, path, data, headers, status
):
    client = api if status == 401 else api_as(world["full_key"])
    if isinstance(data, str):
        response = client.post(path, data, **headers)
    else:
        response = send(client, method, path, data)

    assert response.status_code == status
    assert_documented(document, method, path, response)


def test_it_documents_an_idempotent_retry_with_another_body(document, api_as, world):
    client = api_as(world["full_key"])
    headers = {"Idempotency-Key": "retry-1"}
    assert client.post("/v1/conversations", {"title": "a"}, format="json", headers=headers).status_code == 201

    response = client.post("/v1/conversations", {"title": "b"}, format="json", headers=headers)

    assert response.status_code == 409
    assert_documented(document, "POST", "/v1/conversations", response)
    parameters = operation_of(document, "POST", "/v1/conversations")["parameters"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= parameters[0].items()


def test_it_documents_a_developers_refusals(document, api_as, world, bob):
    _, full_key = key_create(organization=world["acme"], created_by=bob, name="bob's")

    response = api_as(full_key).post(
        "/v1/billing/checkout", {"amount_usd": "20", "idempotency_key": "x"}, format="json"
    )

    assert response.status_code == 403
    assert_documented(document, "POST", "/v1/billing/checkout", response)
    assert not TopUp.objects.exists()


def test_it_documents_a_streamed_completion(document, api_as, world):
    response = api_as(world["full_key"]).post(
        "/v1/chat/completions", {**HELLO, "stream": True}, format="json"
    )

    assert response.status_code == 200
    documented = operation_of(document, "POST", "/v1/chat/completions")["responses"]["200"]
    assert response["Content-Type"].split(";")[0] in documented["content"]
    assert response["X-Nexevo-Generation-Id"].startswith("gen_")
    assert documented["headers"]["X-Nexevo-Generation-Id"]["required"] is True
    events = sse_events(response.content)  # buffered: the test client is not an ASGI server
    assert events[-1] == "[DONE]" and set(events[-2]["nexevo"]) == {
        "generation_id",
        "tier",
        "model",
        "cost_usd",
    }


def chat_refusals(world, alice):
    """(why, key, body, status, code): a way the chat endpoint refuses, for each status it documents
    that a caller can bring about."""
    _, broke_key = new_key(alice, name="no balance")  # Alice's personal workspace holds nothing
    return [
        ("no key", "", HELLO, 401, "invalid_api_key"),
        ("no model", world["full_key"], {"messages": HELLO["messages"]}, 400, "missing_model"),
        ("an unknown model", world["full_key"], {**HELLO, "model": "acme/nothing"}, 400, "unknown_model"),
        ("a wrong type", world["full_key"], {**HELLO, "temperature": "hot"}, 400, "invalid_type"),
        ("n of 2", world["full_key"], {**HELLO, "n": 2}, 400, "unsupported_parameter"),
        (
            "the provider refuses",
            world["full_key"],
            {**HELLO, "model": "picky/chat"},
            400,
            "upstream_rejected",
        ),
        ("no balance", broke_key, HELLO, 402, "insufficient_balance"),
        ("the provider fails", world["full_key"], {**HELLO, "model": "broken/chat"}, 502, "upstream_error"),
        ("switched off", world["full_key"], {**HELLO, "model": "west/chat-a"}, 503, "model_unavailable"),
    ]


def test_it_documents_every_refusal_of_the_chat_endpoint(document, api, world, alice):
    Provider.objects.filter(id="west").update(enabled=False)
    for why, full_key, body, status, code in chat_refusals(world, alice):
        client = APIClient()
        if full_key:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
        response = client.post("/v1/chat/completions", body, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), why
        assert_documented(document, "POST", "/v1/chat/completions", response)
        description = operation_of(document, "POST", "/v1/chat/completions")["responses"][str(status)]
        assert f"`{code}`" in description["description"], why
