from django.contrib import admin

from .models import AuditEvent, Invitation, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["joined_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "is_personal", "created_at", "deleted_at"]
    list_filter = ["is_personal", ("deleted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "id", "memberships__user__email"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]
    date_hierarchy = "created_at"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "joined_at"]
    list_filter = ["role", "organization__is_personal"]
    search_fields = ["user__email", "organization__name", "organization__id", "user__id"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["joined_at"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "role", "status", "invited_by", "created_at", "expires_at"]
    list_filter = ["status", "role", "created_at"]
    search_fields = ["email", "id", "organization__name", "organization__id", "invited_by__email"]
    list_select_related = ["organization", "invited_by"]
    readonly_fields = [
        "id",
        "organization",
        "email",
        "role",
        "invited_by",
        "created_at",
        "sent_at",
        "accepted_by",
        "accepted_at",
    ]
    fields = readonly_fields[:5] + ["status", "expires_at"] + readonly_fields[5:]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: events are never changed or removed."""

    list_display = ["created_at", "organization", "actor", "action", "target_label", "ip_address"]
    list_filter = ["action", "created_at"]
    search_fields = [
        "action",
        "target_label",
        "target_id",
        "organization__name",
        "organization__id",
        "actor__email",
    ]
    list_select_related = ["organization", "actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
