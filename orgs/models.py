from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.fields import PublicIdField


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
