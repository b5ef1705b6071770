"""Where requests go: providers (OpenAI-compatible endpoints) and the models they serve."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core import crypto


class Region(models.TextChoices):
    CN = "cn", _("China")
    OVERSEAS = "overseas", _("Outside China")


class Provider(models.Model):
    """An OpenAI-compatible upstream. Its API key is stored encrypted (core.crypto)."""

    id = models.SlugField(primary_key=True, max_length=64)
    name = models.CharField(max_length=100)
    base_url = models.URLField(help_text="The API root, e.g. https://api.openai.com/v1")
    api_key_encrypted = models.TextField(blank=True, editable=False)
    region = models.CharField(max_length=16, choices=Region.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name

    @property
    def api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plaintext) if plaintext else ""


class GatewayModel(models.Model):
    """A real model id callers may ask for, and where it is served."""

    public_id = models.CharField(max_length=128, unique=True, help_text="openai/gpt-4o-mini")
    upstream_name = models.CharField(max_length=128, help_text="The name the provider knows it by.")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    context_length = models.PositiveIntegerField(default=8192)
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "model"
        ordering = ["public_id"]

    def __str__(self):
        return self.public_id


class PoolTier(models.TextChoices):
    FAST = "fast", "nexevo/fast"
    BALANCED = "balanced", "nexevo/balanced"


class PoolCandidate(models.Model):
    """A model the router may pick for ``nexevo/fast`` or ``nexevo/balanced``."""

    tier = models.CharField(max_length=16, choices=PoolTier.choices)
    model = models.ForeignKey(GatewayModel, on_delete=models.CASCADE, related_name="pools")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tier", "model"], name="one_candidate_per_pool")]

    def __str__(self):
        return f"{self.tier}: {self.model}"


class OrganizationProviderKey(models.Model):
    """An organization's own key for a provider (bring your own key), stored encrypted."""

    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="provider_keys"
    )
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    api_key_encrypted = models.TextField(editable=False)
    last_four = models.CharField(max_length=4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "provider"], name="one_key_per_provider")
        ]

    def __str__(self):
        return f"{self.organization} → {self.provider} (…{self.last_four})"

    @property
    def api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted)
