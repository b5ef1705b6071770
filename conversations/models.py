from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import PublicIdField

TITLE_MAX_LENGTH = 200
CONTENT_MAX_LENGTH = 100_000


class Conversation(models.Model):
    """A container of messages with a title and metadata. It persists a chat; it never calls a model."""

    id = PublicIdField(prefix="conv")
    organization = models.ForeignKey(
        "orgs.Organization", on_delete=models.CASCADE, related_name="conversations"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("title"), max_length=TITLE_MAX_LENGTH, blank=True)
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["organization", "-updated_at", "-id"], name="conversation_activity")]

    def __str__(self):
        return self.title or self.id


class Role(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class Message(models.Model):
    id = PublicIdField(prefix="msg")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # 1, 2, 3… within the conversation, no gap and no repeat, whatever the concurrency.
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    name = models.CharField(max_length=64, blank=True)
    tool_call_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "seq"], name="one_message_per_seq")]

    def __str__(self):
        return f"{self.conversation_id} #{self.seq}"
