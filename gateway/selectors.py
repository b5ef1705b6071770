"""What the gateway's pages read: the organization's request log, one request with its feedback, the
totals of a filtered log, a key's refusals of the month, and the names the Requests page shows."""

import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from billing.models import UsageRecord
from feedback.models import Feedback

from .errors import explain, explain_for_key
from .models import GatewayModel, PoolTier, Provider, RequestLog, RequestStatus


def requests_of_organization(*, organization) -> QuerySet[RequestLog]:
    """Every request the organization made, served, refused or failed, with its key joined in."""
    return RequestLog.objects.filter(organization=organization).select_related("api_key")


def request_of_organization(*, organization, generation_id: str) -> RequestLog | None:
    return requests_of_organization(organization=organization).filter(id=generation_id).first()


def feedback_on_request(*, organization, logged: RequestLog) -> tuple[bool, QuerySet[Feedback]]:
    """Whether the request was served (it has a usage record, which feedback points to), and the
    feedback on it, newest first."""
    served = UsageRecord.objects.filter(organization=organization, id=logged.id).exists()
    if not served:
        return False, Feedback.objects.none()
    feedback = (
        Feedback.objects.filter(organization=organization, generation_id=logged.id)
        .select_related("user")
        .order_by("-updated_at")
    )
    return True, feedback


def provider_names() -> dict[str, str]:
    """Each provider's display name by its id (a request log keeps the id)."""
    return dict(Provider.objects.values_list("id", "name"))


def known_models() -> list[str]:
    """What the Requests page's model filter suggests: the pools, then every model served."""
    pools = [tier.label for tier in PoolTier]
    return pools + list(GatewayModel.objects.filter(enabled=True).values_list("public_id", flat=True))


def request_totals(requests: QuerySet[RequestLog]) -> dict:
    """The totals of ``requests`` (every row the filters let through, not a page of them) in one
    aggregate statement: requests, tokens in and out, cost, and the share answered with an error
    (an HTTP status of 400 or more, as the dashboard counts them), in percent to one decimal."""
    totals = requests.order_by().aggregate(
        requests=Count("pk"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        cost_usd=Sum("cost_usd"),
        errors=Count("pk", filter=Q(http_status__gte=400)),
    )
    count = totals["requests"]
    prompt_tokens, completion_tokens = totals["prompt_tokens"] or 0, totals["completion_tokens"] or 0
    return {
        "requests": count,
        "tokens": prompt_tokens + completion_tokens,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": totals["cost_usd"] or Decimal(0),
        "errors": totals["errors"],
        "error_rate": (Decimal(totals["errors"]) * 100 / count).quantize(Decimal("0.1")) if count else None,
    }


def _cap_reached(api_key, now: datetime.datetime) -> bool | None:
    """Whether the key's spend this month has reached its cap; None for a key without a cap."""
    cap = api_key.monthly_spend_cap_usd
    return None if cap is None else api_key.month_to_date_spend(now) >= cap


def explanation_of_request(logged: RequestLog, *, now: datetime.datetime | None = None) -> str:
    """What the request's error code means, for its page: for a spend cap refusal of this month, said
    knowing whether the key's cap is reached (gateway.errors); empty for a request without one."""
    if not logged.error_code:
        return ""
    now = now or timezone.now()
    if _month(logged.created_at) != _month(now):
        return explain(logged.error_code)
    return explain_for_key(logged.error_code, cap_reached=_cap_reached(logged.api_key, now))


def _month(moment: datetime.datetime) -> tuple[int, int]:
    moment = moment.astimezone(datetime.UTC)
    return moment.year, moment.month


def refusals_of_key_this_month(*, api_key, now: datetime.datetime | None = None) -> list[dict]:
    """The key's requests refused this calendar month (UTC), counted per error code in one aggregate
    statement, most frequent first, each with the sentence that explains it to the key's owner:
    ``[{"code", "count", "explanation"}]``."""
    now = now or timezone.now()
    month_start = now.astimezone(datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = (
        RequestLog.objects.filter(
            organization_id=api_key.organization_id,
            api_key_id=api_key.pk,
            status=RequestStatus.REFUSED,
            created_at__gte=month_start,
        )
        .values("error_code")
        .annotate(count=Count("pk"))
        .order_by("-count", "error_code")
    )
    cap_reached = _cap_reached(api_key, now)
    return [
        {
            "code": row["error_code"],
            "count": row["count"],
            "explanation": explain_for_key(row["error_code"], cap_reached=cap_reached),
        }
        for row in rows
    ]
