from django.contrib import admin

from billing.services import account_for

from .audit import client_ip
from .models import AuditEvent, Invitation, Membership, Organization, Role
from .services import membership_end_by_staff


class MembershipInline(admin.TabularInline):
    """Members at a glance; adding and removing them happens on the membership pages."""

    model = Membership
    extra = 0
    fields = ["user", "role", "joined_at"]
    readonly_fields = ["user", "role", "joined_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "is_personal", "created_at", "deleted_at"]
    list_filter = ["is_personal", ("deleted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "id", "memberships__user__email"]
    # Whether an organization is someone's personal workspace, and whether it was deleted, follow
    # from what happened to it (sign-up, the owner's deletion with its checks): never set by hand.
    readonly_fields = ["id", "is_personal", "created_at", "deleted_at"]
    inlines = [MembershipInline]
    date_hierarchy = "created_at"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:  # as every other way of creating one does (orgs.services)
            account_for(obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Roles can be changed here; removing a membership goes through the same service as the
    members page (the member's keys there are revoked, the removal is audited)."""

    list_display = ["user", "organization", "role", "joined_at"]
    list_filter = ["role", "organization__is_personal"]
    search_fields = ["user__email", "organization__name", "organization__id", "user__id"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["joined_at"]

    def get_readonly_fields(self, request, obj=None):
        # Moving a membership to another person or organization is not a thing: remove and invite.
        # The owner's role changes only by a transfer, which keeps exactly one owner.
        if obj is None:
            return ["joined_at"]
        return ["user", "organization", "joined_at"] + (["role"] if obj.role == Role.OWNER else [])

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role":
            kwargs["choices"] = [(Role.ADMIN, Role.ADMIN.label), (Role.DEVELOPER, Role.DEVELOPER.label)]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.role != Role.OWNER)

    def delete_model(self, request, obj):
        membership_end_by_staff(member=obj, staff_user=request.user, ip=client_ip(request))

    def delete_queryset(self, request, queryset):
        for member in queryset.select_related("user", "organization").exclude(role=Role.OWNER):
            membership_end_by_staff(member=member, staff_user=request.user, ip=client_ip(request))


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
