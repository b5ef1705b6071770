"""A small catalog, and feedback and request-log rows from several organizations, for the ratings and
the library pages."""

import datetime
import itertools

from django.utils import timezone

from apikeys.models import ApiKey
from feedback.models import Feedback
from gateway.models import RequestLog, RequestStatus
from gateway.services import providers_load
from tests.billing.helpers import credit, use
from tests.conftest import make_user, new_key

_emails = itertools.count()


def small_catalog(count: int = 3) -> dict:
    """``count`` models over one provider in each region; ``acme/model-0`` is the first."""
    return {
        "providers": [
            {
                "id": "acme",
                "name": "Acme AI",
                "base_url": "https://acme.example/v1",
                "region": "overseas",
                "api_key": "sk-acme",
            },
            {"id": "lotus", "name": "Lotus", "base_url": "https://lotus.example/v1", "region": "cn"},
        ],
        "models": [
            {
                "id": f"{'acme' if n % 2 == 0 else 'lotus'}/model-{n}",
                "name": f"Model {n}",
                "provider": "acme" if n % 2 == 0 else "lotus",
                "input_per_million_usd": f"{n + 1}.00",
                "output_per_million_usd": f"{2 * (n + 1)}.00",
                "context_length": 8000 * (n + 1),
                "capabilities": {"tools": n % 2 == 0, "vision": n % 3 == 0},
            }
            for n in range(count)
        ],
        "pools": {"fast": ["acme/model-0"], "balanced": []},
    }


def load_catalog(count: int = 3) -> None:
    providers_load(small_catalog(count))


def organization_key(name: str = "") -> ApiKey:
    """A key of a new user's own organization, with money to spend."""
    user = make_user(f"{name or 'someone'}-{next(_emails)}@example.com")
    api_key = new_key(user)[0]
    credit(api_key.organization, "50.00")
    return api_key


def rate(api_key: ApiKey, model: str, *, up: int = 0, down: int = 0, days_ago: int = 0) -> None:
    """``up`` thumbs up and ``down`` thumbs down on generations of ``model`` by ``api_key``'s
    organization, given ``days_ago`` days back."""
    ids = []
    for rating in [1] * up + [-1] * down:
        generation = use(api_key, model, prompt=10, completion=5)
        ids.append(
            Feedback.objects.create(
                organization=api_key.organization,
                generation=generation,
                user=api_key.created_by,
                model=model,
                rating=rating,
            ).pk
        )
    if days_ago:
        Feedback.objects.filter(pk__in=ids).update(
            updated_at=timezone.now() - datetime.timedelta(days=days_ago)
        )


def logged(
    api_key: ApiKey,
    model: str,
    *,
    count: int = 1,
    status=RequestStatus.COMPLETED,
    latency_ms=1000,
    completion_tokens=100,
    days_ago: int = 0,
) -> None:
    http_status = {RequestStatus.COMPLETED: 200, RequestStatus.FAILED: 502, RequestStatus.REFUSED: 402}
    RequestLog.objects.bulk_create(
        RequestLog(
            organization=api_key.organization,
            api_key=api_key,
            created_at=timezone.now() - datetime.timedelta(days=days_ago),
            requested_model=model,
            model=model,
            provider=model.split("/")[0],
            tier="passthrough",
            status=status,
            http_status=http_status.get(status, 200),
            prompt_tokens=10,
            completion_tokens=completion_tokens if status == RequestStatus.COMPLETED else 0,
            latency_ms=latency_ms,
        )
        for _ in range(count)
    )
