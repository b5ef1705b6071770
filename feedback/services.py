import re

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from billing.models import UsageRecord
from core.errors import NotFound, ServiceError

from .models import COMMENT_MAX_LENGTH, MAX_TAGS, Feedback

TAG = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _clean(rating, comment, tags) -> dict:
    if isinstance(rating, bool) or rating not in (1, -1):
        raise ServiceError(_("rating must be 1 (👍) or -1 (👎)."), code="invalid_rating", param="rating")
    if comment is not None and not isinstance(comment, str):
        raise ServiceError(_("comment must be a string."), code="invalid_comment", param="comment")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        raise ServiceError(
            _("A comment has at most %(max)d characters.") % {"max": COMMENT_MAX_LENGTH},
            code="comment_too_long",
            param="comment",
        )
    tags = [] if tags is None else tags
    if (
        not isinstance(tags, list)
        or len(tags) > MAX_TAGS
        or not all(isinstance(t, str) and TAG.match(t) for t in tags)
    ):
        raise ServiceError(
            _('tags must be a list of at most %(max)d short lower-case words, like ["accurate"].')
            % {"max": MAX_TAGS},
            code="invalid_tags",
            param="tags",
        )
    return {"rating": rating, "comment": comment, "tags": sorted(set(tags))}


def feedback_submit(
    *, organization, user, generation_id, rating, comment=None, tags=None
) -> tuple[Feedback, bool]:
    """Records the user's rating of a generation of their organization, replacing an earlier one.
    Returns the feedback and whether it is new. Another organization's generation is a 404."""
    values = _clean(rating, comment, tags)
    generation = (
        UsageRecord.objects.filter(organization=organization, id=generation_id).only("id", "model").first()
        if isinstance(generation_id, str)
        else None
    )
    if generation is None:
        raise NotFound(_("No such generation."), code="generation_not_found", param="generation_id")
    for _attempt in range(2):  # a concurrent first submit by the same user wins the insert; then update
        try:
            with transaction.atomic():
                feedback, created = Feedback.objects.update_or_create(
                    generation=generation,
                    user=user,
                    defaults={**values, "organization": organization, "model": generation.model},
                )
            return feedback, created
        except IntegrityError:
            continue
    raise ServiceError(_("Try again."), code="conflict", status=409)
