from django.conf import settings
from django.db import models

from core.fields import PublicIdField

COMMENT_MAX_LENGTH = 2000
MAX_TAGS = 10


class Feedback(models.Model):
    """A thumbs up or down on one generation, by one user; a second one by the same user replaces it."""

    id = PublicIdField(prefix="fb")
    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="feedback")
    generation = models.ForeignKey("billing.UsageRecord", on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The model that served the generation, copied so summaries and the router group without a join.
    model = models.CharField(max_length=128)
    rating = models.SmallIntegerField(choices=[(1, "👍"), (-1, "👎")])
    comment = models.TextField(blank=True, max_length=COMMENT_MAX_LENGTH)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "feedback"
        constraints = [models.UniqueConstraint(fields=["generation", "user"], name="one_feedback_per_user")]
        indexes = [
            models.Index(fields=["organization", "-updated_at"], name="feedback_org_time"),
            models.Index(fields=["model", "updated_at"], name="feedback_model_time"),
        ]

    def __str__(self):
        return f"{self.rating:+d} on {self.generation_id}"
