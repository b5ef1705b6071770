from django.contrib import admin

from .models import DeliveryAttempt, SpendAlert, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the workers write; staff look, they do not edit (redelivery is on the key page)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SpendAlert)
class SpendAlertAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "api_key",
        "organization",
        "month",
        "threshold_pct",
        "cap_usd",
        "spend_usd",
        "created_at",
    ]
    list_filter = ["threshold_pct", "month"]
    search_fields = ["id", "api_key__id", "api_key__name", "organization__id", "organization__name"]
    list_select_related = ["api_key", "organization"]
    date_hierarchy = "created_at"


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["number", "started_at", "finished_at", "status_code", "latency_ms", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "api_key",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type", "last_status_code", "created_at"]
    search_fields = ["id", "url", "api_key__id", "api_key__name", "api_key__organization__name", "alert__id"]
    list_select_related = ["api_key"]
    # The body, not the key's secret: nothing here signs anything.
    fields = [
        "id",
        "event_type",
        "api_key",
        "alert",
        "url",
        "status",
        "attempts",
        "next_attempt_at",
        "locked_until",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
        "body",
    ]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    date_hierarchy = "created_at"
