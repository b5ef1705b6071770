from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a create request that carried an ``Idempotency-Key``.

    A retry with the same key (from the same user, to the same endpoint) gets this response again
    instead of creating a second object. Records older than a day are pruned.
    """

    scope = models.CharField(
        max_length=128, help_text="Who sent it: the calling key, or user + organization."
    )
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key", "endpoint"], name="one_response_per_key")
        ]

    def __str__(self):
        return f"{self.endpoint} {self.key}"


class AppendOnlyQuerySet(models.QuerySet):
    """For records that are written once and never changed: bulk updates and deletes refuse too."""

    def update(self, **kwargs):
        raise ValueError(f"{self.model._meta.verbose_name_plural} are append-only.")

    def delete(self):
        raise ValueError(f"{self.model._meta.verbose_name_plural} are append-only.")

    def erase_personal_data(self, **replacements) -> int:
        """The one change these records accept: personal data replaced when an account is erased."""
        return models.QuerySet.update(self, **replacements)
