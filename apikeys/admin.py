from django.contrib import admin

from .models import ApiKey


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
    ]
    readonly_fields = ["id", "display", "organization", "created_by", "created_at", "last_used_at"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        # A key is made where its secret can be shown once: the dashboard or createapikey.
        return False
