from django import forms
from django.contrib import admin

from orgs.audit import client_ip

from .models import GatewayModel, ModelRating, OrganizationProviderKey, PoolCandidate, Provider, RequestLog
from .provider_keys import provider_key_remove_by_staff


class ProviderForm(forms.ModelForm):
    new_api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current key. Stored encrypted; never shown.",
    )

    class Meta:
        model = Provider
        fields = ["id", "name", "base_url", "region", "enabled"]

    def save(self, commit=True):
        provider = super().save(commit=False)
        if self.cleaned_data.get("new_api_key"):
            provider.set_api_key(self.cleaned_data["new_api_key"])
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["id", "name", "region", "enabled", "base_url"]
    list_filter = ["region", "enabled"]
    search_fields = ["id", "name", "base_url"]


class PoolCandidateInline(admin.TabularInline):
    model = PoolCandidate
    extra = 0


@admin.register(GatewayModel)
class GatewayModelAdmin(admin.ModelAdmin):
    list_display = ["public_id", "upstream_name", "provider", "context_length", "enabled"]
    list_filter = ["provider", "enabled", "pools__tier"]
    search_fields = ["public_id", "upstream_name"]
    list_select_related = ["provider"]
    inlines = [PoolCandidateInline]


@admin.register(OrganizationProviderKey)
class OrganizationProviderKeyAdmin(admin.ModelAdmin):
    """Organizations manage their own keys on the Provider keys page; staff see which exist (never
    the key: only its last four characters) and may delete one, e.g. a leaked key."""

    list_display = ["organization", "provider", "last_four", "created_at"]
    list_filter = ["provider"]
    search_fields = ["organization__name", "organization__id"]
    list_select_related = ["organization", "provider"]
    fields = readonly_fields = ["organization", "provider", "last_four", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        provider_key_remove_by_staff(provider_key=obj, staff_user=request.user, ip=client_ip(request))

    def delete_queryset(self, request, queryset):
        for provider_key in queryset.select_related("organization", "provider"):
            self.delete_model(request, provider_key)


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    """The gateway's request log, as written by the chat endpoint: read-only."""

    list_display = [
        "id",
        "created_at",
        "organization",
        "api_key",
        "requested_model",
        "model",
        "provider",
        "tier",
        "status",
        "http_status",
        "error_code",
        "cost_usd",
        "latency_ms",
    ]
    list_filter = ["status", "tier", "provider", "stream"]
    search_fields = ["id", "requested_model", "model"]
    date_hierarchy = "created_at"
    list_select_related = ["organization", "api_key"]
    show_full_result_count = False
    readonly_fields = [field.name for field in RequestLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelRating)
class ModelRatingAdmin(admin.ModelAdmin):
    """What the hourly job published for each model (gateway.ratings): read-only; the job rewrites it."""

    list_display = [
        "model",
        "positive_rate",
        "ratings",
        "p50_latency_ms",
        "error_rate",
        "output_tokens_per_second",
        "requests",
        "computed_at",
    ]
    list_filter = ["model__provider"]
    search_fields = ["model__id"]
    list_select_related = ["model"]
    readonly_fields = [field.name for field in ModelRating._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
