"""An organization that stresses the console's layout: long names, the longest e-mail address the
schema stores, a 5,000-character unbroken message, code with indentation, and a few thousand usage
records over the last 30 days with their request log.

Today's usage goes through the billing service (so the ledger has real debits); the history is
written in bulk with its dates, as the roll-up and the request log would hold it.
"""

from django.utils import timezone

from apikeys.services import key_create
from billing.rollup import usage_rollup
from billing.services import usage_record
from conversations.services import conversation_create, message_append
from feedback.services import feedback_submit
from gateway.models import RequestLog
from orgs.models import Membership, Role
from orgs.services import invitation_create, organization_create
from tests.billing.helpers import credit
from tests.conftest import make_user
from tests.usage_history import MODELS, usage_history

LONG_ORGANIZATION = "Acme Interplanetary Logistics and Very Long Subsidiary Names Holding Company Ltd."[:100]
LONG_KEY_NAME = ("production-backend-" + "k" * 100)[:100]
# 254 characters: the most an e-mail address field stores.
LONG_EMAIL = ("a" * 64) + "@" + ".".join(["sub" + "d" * 55] * 2 + ["sub" + "d" * 56]) + ".example.com"
UNBROKEN = "x" * 5000
CODE = (
    "Here is the fix:\n\n```python\n"
    "def total(rows):\n    for row in rows:\n        if row:\n            yield row\n```\n"
)


def seed_layout_organization(*, owner_email: str = "owner@example.com", history: int = 3000) -> dict:
    """Returns the owner and the ids of one object of each detail page."""
    owner = make_user(owner_email, full_name="Olivia Owner-" + "Longname" * 12)
    member = make_user(LONG_EMAIL, full_name="")
    organization = organization_create(user=owner, name=LONG_ORGANIZATION).organization
    Membership.objects.create(organization=organization, user=member, role=Role.DEVELOPER)
    owner_membership = Membership.objects.get(organization=organization, user=owner)
    invitation_create(membership=owner_membership, email="new.colleague@example.com", role=Role.DEVELOPER)
    credit(organization, "50.00")

    api_key, _ = key_create(
        organization=organization,
        created_by=owner,
        name=LONG_KEY_NAME,
        monthly_spend_cap_usd="1.00",
        alert_webhook_url="https://alerts.example.com/" + "path/" * 20,
    )
    other_key, _ = key_create(organization=organization, created_by=owner, name="staging")

    served = [
        usage_record(
            api_key=api_key,
            requested_model=requested,
            model=model,
            prompt_tokens=1200,
            completion_tokens=300,
        )
        for requested, model, _tier in MODELS * 5
    ]
    now = timezone.now()
    RequestLog.objects.bulk_create(
        RequestLog(
            id=record.id,
            organization=organization,
            api_key=api_key,
            created_at=record.created_at,
            requested_model=record.requested_model,
            model=record.model,
            provider=record.model.split("/")[0],
            tier=record.tier,
            status="completed",
            http_status=200,
            attempts=1,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            cost_usd=record.cost_usd,
            latency_ms=800,
        )
        for record in served
    )
    usage_history(organization, [api_key, other_key], owner, count=history, now=now)
    usage_rollup()

    conversation = conversation_create(
        organization=organization,
        user=owner,
        title="A conversation with a very long title " + "that keeps going " * 9,
        metadata={"beta": True, "user_id": "u_12345", "topic": "layout"},
    )
    message_append(organization=organization, conversation_id=conversation.id, role="user", content=UNBROKEN)
    message_append(organization=organization, conversation_id=conversation.id, role="assistant", content=CODE)
    feedback_submit(
        organization=organization, user=owner, generation_id=served[0].id, rating=1, comment="Good " * 60
    )
    feedback_submit(
        organization=organization, user=owner, generation_id=served[1].id, rating=-1, comment="Too long"
    )
    return {
        "owner": owner,
        "organization": organization,
        "key": api_key,
        "generation": served[0],
        "conversation": conversation,
    }
