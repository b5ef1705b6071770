"""Where requests go: providers (OpenAI-compatible endpoints) and the models they serve."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import crypto
from core.fields import MicroDollarField, PublicIdField


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
    name = models.CharField(max_length=100, blank=True, help_text="The display name, e.g. GPT-4o mini.")
    context_length = models.PositiveIntegerField(default=8192)
    max_output_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="The most tokens one answer may have, where the provider says."
    )
    # What the model accepts beyond text in, text out (the catalog, gateway/catalog/).
    supports_tools = models.BooleanField("tools", default=False, help_text="Function and tool calls.")
    supports_vision = models.BooleanField("vision", default=False, help_text="Images in the messages.")
    supports_json_mode = models.BooleanField(
        "JSON mode", default=False, help_text="response_format with a JSON schema (structured output)."
    )
    supports_reasoning = models.BooleanField(
        "reasoning", default=False, help_text="Thinks before it answers (reasoning effort, thinking tokens)."
    )
    # When the console first offered the model: ``created`` in GET /v1/models, as OpenAI's list has it.
    added_at = models.DateTimeField(default=timezone.now, editable=False)
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

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plaintext)
        self.last_four = plaintext[-4:]


class RequestStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    INCOMPLETE = "incomplete", _("Ended early")
    FAILED = "failed", _("Failed")
    REFUSED = "refused", _("Refused")
    # The client went away before its answer was ready: cancelled, the provider call too, not charged.
    CLIENT_CLOSED = "client_closed", _("Client closed")


class RequestLog(models.Model):
    """One call to ``POST /v1/chat/completions``, served or not: the Requests page reads these.

    Its id is the generation id; when the request was served, the billing usage record carries the
    same id. Request logs are kept ``NEXEVO_REQUEST_LOG_RETENTION_DAYS`` days (gateway.tasks); usage
    records, which the ledger points to, are kept for good.
    """

    id = PublicIdField(prefix="gen")
    # Indexed by requestlog_org_time, which starts with it.
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    requested_model = models.CharField(max_length=128)
    model = models.CharField(max_length=128, blank=True, help_text="The model that served it.")
    provider = models.CharField(max_length=64, blank=True)
    tier = models.CharField(max_length=16, blank=True)
    stream = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=RequestStatus.choices)
    http_status = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Upstream calls made.")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = MicroDollarField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="requestlog_org_time"),
            models.Index(fields=["created_at"], name="requestlog_time"),
        ]

    def __str__(self):
        return self.id


class KeyReservation(models.Model):
    """Spend held against a key's monthly cap while a request is in flight (the database counter,
    used without Redis). A reservation left behind by a crashed process stops counting after
    ``NEXEVO_RESERVATION_TTL_SECONDS``."""

    id = PublicIdField(prefix="rsv")
    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="+")
    amount_usd = MicroDollarField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["api_key", "created_at"], name="reservation_key_time")]

    def __str__(self):
        return f"{self.api_key_id} {self.amount_usd}"


class ModelRating(models.Model):
    """A model's ratings over the last ``window_days``, across every organization: its feedback's
    positive rate, and the median latency, error rate and output speed from the request log. Written
    by the hourly job (gateway.ratings); pages and GET /v1/models read it, nothing computes it per
    view. A figure is stored only where gateway.ratings allows it to be published; below that it is
    null, so no organization's own numbers are kept here or shown."""

    model = models.OneToOneField(GatewayModel, on_delete=models.CASCADE, related_name="rating")
    positive_rate = models.DecimalField(
        max_digits=4, decimal_places=3, null=True, blank=True, help_text="Thumbs up over all ratings."
    )
    ratings = models.PositiveIntegerField(null=True, blank=True, help_text="Feedback counted.")
    p50_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_rate = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    output_tokens_per_second = models.DecimalField(max_digits=9, decimal_places=1, null=True, blank=True)
    requests = models.PositiveIntegerField(null=True, blank=True, help_text="Requests counted.")
    window_days = models.PositiveSmallIntegerField(default=30)
    computed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.model_id} ratings"

    @property
    def has_feedback(self) -> bool:
        return self.positive_rate is not None

    @property
    def has_requests(self) -> bool:
        return self.p50_latency_ms is not None

    @property
    def published(self) -> bool:
        return self.has_feedback or self.has_requests
