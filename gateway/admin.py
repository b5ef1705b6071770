from django import forms
from django.contrib import admin

from .models import GatewayModel, OrganizationProviderKey, PoolCandidate, Provider


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
    list_display = ["organization", "provider", "last_four", "created_at"]
    list_filter = ["provider"]
    search_fields = ["organization__name", "organization__id"]
    readonly_fields = ["organization", "provider", "last_four", "created_at"]

    def has_add_permission(self, request):
        return False
