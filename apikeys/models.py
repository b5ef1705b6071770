from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import PublicIdField


class ApiKey(models.Model):
    """A Bearer key. It belongs to one organization and acts as the member who created it."""

    id = PublicIdField(prefix="key")
    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(_("SHA-256 of the key"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("prefix"), max_length=8, editable=False)
    last_four = models.CharField(_("last four"), max_length=4, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        indexes = [models.Index(fields=["organization", "-created_at"], name="apikey_org_created")]

    def __str__(self):
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last_four}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
