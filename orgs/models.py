from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.fields import PublicIdField
from core.models import AppendOnlyQuerySet


class Organization(models.Model):
    """Whose keys, balance and data they are. Every user owns one personal organization."""

    id = PublicIdField(prefix="org")
    name = models.CharField(_("name"), max_length=100)
    is_personal = models.BooleanField(
        _("personal"),
        default=False,
        help_text=_("A personal workspace belongs to one user and cannot take members."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    require_key_cap = models.BooleanField(
        _("require a spend cap on new keys"),
        default=False,
        help_text=_("Every key created in this organization must have a monthly spend cap."),
    )
    # Deleting an organization ends every membership and key but keeps the row, so that its audit
    # trail and billing records keep pointing at something.
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    DEVELOPER = "developer", _("Developer")


class Membership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    joined_at = models.DateTimeField(_("joined"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_user"),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(role="owner"), name="one_owner_per_organization"
            ),
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    REVOKED = "revoked", _("Revoked")
    EXPIRED = "expired", _("Expired")


class Invitation(models.Model):
    """An e-mailed, signed, single-use link that makes its addressee a member with ``role``."""

    id = PublicIdField(prefix="inv")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invitations_sent"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("last sent"))
    expires_at = models.DateTimeField(_("expires"))
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invitations_accepted",
    )
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(status="pending"),
                name="one_pending_invitation_per_address",
            ),
        ]

    def __str__(self):
        return f"{self.email} to {self.organization} ({self.current_status})"

    @property
    def current_status(self) -> str:
        """The status as of now: a pending invitation whose link has run out is expired, even before
        the scheduled job (``orgs.tasks.expire_invitations``) has written that down."""
        from django.utils import timezone

        if self.status == InvitationStatus.PENDING and self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return self.status


class AuditEvent(models.Model):
    """Something security-relevant that happened in an organization. Written once, never changed."""

    id = PublicIdField(prefix="evt")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        help_text=_("Empty when the system acted (a scheduled job)."),
    )
    action = models.CharField(_("action"), max_length=64)
    target_type = models.CharField(_("target type"), max_length=32, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    metadata = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["organization", "-created_at", "-id"], name="audit_org_time")]

    def __str__(self):
        return f"{self.action} {self.target_label}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")
