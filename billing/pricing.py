"""What a generation costs: the tier its model puts it in, priced under the organization's plan.

| tier        | model                              | price                                        |
|-------------|------------------------------------|----------------------------------------------|
| fast        | ``nexevo/fast``                    | the plan's flat fast rates                   |
| balanced    | ``nexevo/balanced``                | the plan's flat balanced rates               |
| passthrough | a real model id, our provider key  | the model's list price + the plan's markup   |
| byok        | a real model id, the org's own key | the plan's fee, a share of the list price    |

Rates are per million tokens. The exact product is rounded once, to micro-dollars (core.money).
``rates_per_million`` states a tier's rates for a model as ``cost`` charges them (GET /v1/models).
"""

from decimal import Decimal

from core.errors import ServiceError
from core.money import MICROS, quantize

from .models import ModelPrice, Plan, Tier

FAST_MODEL = "nexevo/fast"
BALANCED_MODEL = "nexevo/balanced"
MILLION = Decimal(1_000_000)
HUNDRED = Decimal(100)


class UnknownModel(ServiceError):
    """A real model id with no list price: it cannot be priced, so it cannot be served."""

    def __init__(self, model: str):
        super().__init__(f"The model {model} is not available.", code="unknown_model", param="model")


def tier_for(model: str, *, byok: bool = False) -> str:
    if model == FAST_MODEL:
        return Tier.FAST
    if model == BALANCED_MODEL:
        return Tier.BALANCED
    return Tier.BYOK if byok else Tier.PASSTHROUGH


def cost(
    *,
    plan: Plan,
    tier: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    list_prices: dict[str, ModelPrice] | None = None,
) -> Decimal:
    """The cost in dollars, rounded to 6 decimals. ``list_prices`` saves a query per call when
    pricing many generations (the upgrade hint, the chat endpoint's catalog): given, it must hold the
    model's price if it has one; without it the model's price is read."""
    prompt, completion = Decimal(prompt_tokens), Decimal(completion_tokens)
    if tier == Tier.FAST:
        exact = prompt * plan.fast_input_per_million_usd + completion * plan.fast_output_per_million_usd
        return quantize(exact / MILLION, MICROS)
    if tier == Tier.BALANCED:
        exact = (
            prompt * plan.balanced_input_per_million_usd + completion * plan.balanced_output_per_million_usd
        )
        return quantize(exact / MILLION, MICROS)
    if list_prices is not None:  # every price there is, read beforehand: no query here
        price = list_prices.get(model)
    else:
        price = ModelPrice.objects.filter(model=model).first()
    if price is None:
        raise UnknownModel(model)
    list_cost = (prompt * price.input_per_million_usd + completion * price.output_per_million_usd) / MILLION
    if tier == Tier.PASSTHROUGH:
        return quantize(list_cost * (HUNDRED + plan.passthrough_markup_pct) / HUNDRED, MICROS)
    return quantize(list_cost * plan.byok_fee_pct / HUNDRED, MICROS)


def rates_per_million(
    *, plan: Plan, tier: str, model: str, list_prices: dict[str, ModelPrice] | None = None
) -> tuple[Decimal, Decimal]:
    """(input, output) dollars per million tokens of ``model`` in ``tier`` under ``plan``: what
    ``cost`` charges for a million tokens of each, so the rates shown are the rates charged, rounded
    as a charge is. Raises ``UnknownModel`` for a real model id without a list price."""
    million = int(MILLION)
    arguments = {"plan": plan, "tier": tier, "model": model, "list_prices": list_prices}
    return (
        cost(**arguments, prompt_tokens=million, completion_tokens=0),
        cost(**arguments, prompt_tokens=0, completion_tokens=million),
    )
