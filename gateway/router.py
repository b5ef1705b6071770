"""Choosing a model for ``nexevo/fast`` and ``nexevo/balanced``: Thompson sampling on feedback.

Each candidate's chance of a thumbs-up is unknown; its ratings (positive, negative) over a window give
a Beta(1 + positive, 1 + negative) belief. Drawing once from each belief and taking the highest draw
sends most traffic to the best-rated model while still trying the others now and then, and a
model whose ratings turn bad loses its traffic as the ratings come in. A seeded ``random.Random``
makes the choice reproducible in tests.
"""

import random
from collections.abc import Sequence


def choose(candidates: Sequence[str], ratings: dict[str, tuple[int, int]], rng: random.Random) -> list[str]:
    """The candidates in the order to try them: the sampled best first, the others as fall-backs."""
    draws = {
        model: rng.betavariate(1 + ratings.get(model, (0, 0))[0], 1 + ratings.get(model, (0, 0))[1])
        for model in candidates
    }
    return sorted(candidates, key=lambda model: draws[model], reverse=True)
