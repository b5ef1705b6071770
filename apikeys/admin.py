from django.contrib import admin

from orgs.audit import client_ip

from .models import ApiKey
from .services import key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys as metadata only: the secret is never stored, and its hash is not shown."""

    list_display = [
        "name",
        "display",
        "id",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "id", "prefix", "organization__name", "organization__id", "created_by__email"]
    list_select_related = ["organization", "created_by"]
    fields = [
        "id",
        "name",
        "display",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "monthly_spend_cap_usd",
        "requests_per_minute",
        "tokens_per_minute",
        "limits_set_by",
        "limits_set_at",
        "limits_locked",
    ]
    # A revoked key stays revoked: revoking goes through the action below, and nothing un-revokes.
    readonly_fields = [
        "id",
        "display",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        # The limits are the organization's to set, on the key's page or through the API, where the
        # rules on who may change them apply; staff see them.
        "monthly_spend_cap_usd",
        "requests_per_minute",
        "tokens_per_minute",
        "limits_set_by",
        "limits_set_at",
        "limits_locked",
    ]
    actions = ["revoke_selected"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        # A key is made where its secret can be shown once: the dashboard or createapikey.
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke_selected(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).select_related("organization"):
            key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).")
