"""What the gateway's pages read: the organization's request log, one request with its feedback, and
the names the Requests page shows."""

from django.db.models import QuerySet

from billing.models import UsageRecord
from feedback.models import Feedback

from .models import GatewayModel, PoolTier, Provider, RequestLog


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
