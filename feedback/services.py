import re
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from billing.models import UsageRecord
from core.errors import NotFound, ServiceError, ServiceUnavailable
from core.text import check_text
from gateway import journal

from .models import COMMENT_MAX_LENGTH, MAX_TAGS, Feedback

TAG = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _clean(rating, comment, tags) -> dict:
    if isinstance(rating, bool) or rating not in (1, -1):
        raise ServiceError(_("rating must be 1 (👍) or -1 (👎)."), code="invalid_rating", param="rating")
    if comment is not None and not isinstance(comment, str):
        raise ServiceError(_("comment must be a string."), code="invalid_comment", param="comment")
    comment = check_text(comment or "", param="comment").strip()
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


def _generation(organization, generation_id: str):
    return UsageRecord.objects.filter(organization=organization, id=generation_id).only("id", "model").first()


def _generation_once_written(organization, generation_id: str):
    """A generation answered moments ago through the usage journal (gateway.journal) is written by
    the recorder a few milliseconds later: wait for it, for a while."""
    deadline = time.monotonic() + settings.NEXEVO_USAGE_JOURNAL_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.02)
        generation = _generation(organization, generation_id)
        if generation is not None:
            return generation
        if not journal.unrecorded(generation_id):
            # Written since the look above (the recorder commits, then drops the mark), or not this
            # organization's: one more look tells which.
            return _generation(organization, generation_id)
    raise ServiceUnavailable(
        _("This generation is still being recorded. Try again in a moment."),
        code="generation_pending",
        retry_after=5,
    )


def feedback_submit(
    *, organization, user, generation_id, rating, comment=None, tags=None
) -> tuple[Feedback, bool]:
    """Records the user's rating of a generation of their organization, replacing an earlier one.
    Returns the feedback and whether it is new. Another organization's generation is a 404."""
    values = _clean(rating, comment, tags)
    if not isinstance(generation_id, str):
        raise NotFound(_("No such generation."), code="generation_not_found", param="generation_id")
    # Looked up in the database and in Redis, neither of which takes a NUL or a lone surrogate.
    check_text(generation_id, param="generation_id")
    generation = _generation(organization, generation_id)
    if generation is None:
        # The recorder commits, then drops the mark: no mark now means a commit would show now.
        if journal.unrecorded(generation_id):
            generation = _generation_once_written(organization, generation_id)
        else:
            generation = _generation(organization, generation_id)
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
