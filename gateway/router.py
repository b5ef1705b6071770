"""Choosing a model for ``nexevo/fast`` and ``nexevo/balanced``: Thompson sampling on feedback.

``choose`` draws once from each candidate's Beta(1 + positive, 1 + negative) belief and takes the
highest draw (a seeded ``random.Random`` makes it reproducible); ``bounded`` caps what one
organization weighs. What a rating is made of: gateway/ARCHITECTURE.md, "Routing".
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
