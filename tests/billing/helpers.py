from decimal import Decimal

from billing.models import EntryKind
from billing.services import ledger_post, usage_record
from core.ids import new_id


def credit(organization, amount: str) -> None:
    ledger_post(
        organization=organization,
        kind=EntryKind.ADJUSTMENT,
        amount=Decimal(amount),
        reference=new_id("adj"),
        description="test credit",
    )


def use(api_key, model="nexevo/fast", *, prompt=1000, completion=500, served=None, byok=False):
    return usage_record(
        api_key=api_key,
        requested_model=model,
        model=served or model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        byok=byok,
    )
