"""Choosing a model for ``nexevo/fast`` and ``nexevo/balanced``: Thompson sampling on feedback.

Each candidate's chance of a thumbs-up is unknown; its ratings (positive, negative) over a window give
a Beta(1 + positive, 1 + negative) belief. Drawing once from each belief and taking the highest draw
sends most traffic to the best-rated model while still trying the others now and then, and a
model whose ratings turn bad loses its traffic as the ratings come in. A seeded ``random.Random``
makes the choice reproducible in tests.

**What a model's rating is made of** (gateway.routing.ratings reads it; ``bounded`` applies the rule):

* the thumbs up and down on its answers over the last 30 days (feedback.selectors), and
* the **provider faults** of the last hour on requests that ended on it, each a thumbs-down: a
  timeout, a connection failure, a provider's 5xx or 429, an answer that is not what the API
  promises, a stream the provider cut short (``PROVIDER_FAULTS`` in gateway.routing). Never the
  caller's own doing or ours: a provider refusing the request as invalid (``upstream_rejected``, a
  4xx), a request refused before it reached a provider (bad input, the cap, the rate limits), a
  client that hung up, or a failure of the gateway itself (a 500 ``internal_error``) counts for
  nothing. The body is checked before it is sent (gateway.body), so nothing a caller writes can
  make the gateway fail on its way to a provider and pass for the provider's fault.

**No organization moves a model's rating by more than ``ORGANIZATION_WEIGHT`` ratings** (20,
``NEXEVO_ROUTER_RATINGS_PER_ORGANIZATION``): each organization's thumbs and faults on a model are
added up, and if they are more than that they are scaled down to it, keeping their mix (200
thumbs-down and 40 faults count as 20 thumbs-down; 30 up and 10 down as 15 up and 5 down). So what
one tenant does, by rating or by sending requests that make a provider fail, weighs at most what 20
ratings weigh, however much it sends and pays for: with no other ratings, it can take a model's
expected rating from 1/2 down to 1/22 at most; against 100 other ratings at 90% up, from 0.89 to
0.74 at most. Organizations with fewer ratings than that count in full.
"""

import random
from collections.abc import Iterable, Sequence

# The most ratings one organization's thumbs and faults count for in a model's rating.
ORGANIZATION_WEIGHT = 20


def organization_weight() -> float:
    from django.conf import settings

    return settings.NEXEVO_ROUTER_RATINGS_PER_ORGANIZATION


def choose(
    candidates: Sequence[str], ratings: dict[str, tuple[float, float]], rng: random.Random
) -> list[str]:
    """The candidates in the order to try them: the sampled best first, the others as fall-backs."""
    draws = {
        model: rng.betavariate(1 + ratings.get(model, (0, 0))[0], 1 + ratings.get(model, (0, 0))[1])
        for model in candidates
    }
    return sorted(candidates, key=lambda model: draws[model], reverse=True)


def bounded(
    contributions: Iterable[tuple[str, int, int]], *, weight: float = ORGANIZATION_WEIGHT
) -> dict[str, tuple[float, float]]:
    """(positive, negative) per model from each organization's ``(model, positive, negative)``, each
    organization's scaled down to ``weight`` ratings when it has more (module docstring)."""
    ratings: dict[str, tuple[float, float]] = {}
    for model, positive, negative in contributions:
        total = positive + negative
        share = min(1.0, weight / total) if total else 0.0
        up, down = ratings.get(model, (0.0, 0.0))
        ratings[model] = (up + positive * share, down + negative * share)
    return ratings
