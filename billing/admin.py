from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from core.errors import ServiceError
from orgs.audit import client_ip

from .models import BillingAccount, DailyUsage, LedgerEntry, ModelPrice, Plan, StripeEvent, TopUp, UsageRecord
from .services import adjustment_create


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the console writes itself; staff look, they do not edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "monthly_fee_usd",
        "fast_input_per_million_usd",
        "fast_output_per_million_usd",
        "balanced_input_per_million_usd",
        "balanced_output_per_million_usd",
        "passthrough_markup_pct",
        "byok_fee_pct",
        "is_default",
    ]
    search_fields = ["id", "name"]
    readonly_fields = ["is_default"]  # exactly one default plan, the one new organizations start on

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ["model", "provider", "region", "input_per_million_usd", "output_per_million_usd"]
    list_filter = ["provider", "region"]
    search_fields = ["model", "provider"]

    def has_delete_permission(self, request, obj=None):
        # Past usage is priced against these (the upgrade hint); change a price instead.
        return False


class AdjustmentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=12, decimal_places=2, help_text="Positive credits, negative debits."
    )
    reason = forms.CharField(max_length=255, help_text="Recorded in the ledger and the audit trail.")


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["organization", "plan", "balance_usd", "plan_paid_month", "low_balance_threshold_usd"]
    list_filter = ["plan"]
    search_fields = ["organization__name", "organization__id"]
    list_select_related = ["organization", "plan"]
    # The plan changes through the Billing page (which charges for it), the balance through the ledger.
    fields = [
        "organization",
        "plan",
        "balance_usd",
        "plan_paid_month",
        "plan_paid_usd",
        "plan_paid_from",
        "low_balance_threshold_usd",
        "adjust",
    ]
    readonly_fields = [field for field in fields if field != "low_balance_threshold_usd"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Credit or debit")
    def adjust(self, account):
        url = reverse("admin:billing_billingaccount_adjust", args=[account.pk])
        return format_html('<a class="button" href="{}">Make an adjustment…</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:account_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="billing_billingaccount_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request, account_id):
        account = get_object_or_404(BillingAccount.objects.select_related("organization"), pk=account_id)
        form = AdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment_create(
                    organization=account.organization,
                    amount=str(form.cleaned_data["amount"]),
                    reason=form.cleaned_data["reason"],
                    staff_user=request.user,
                    ip=client_ip(request),
                )
            except ServiceError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"Adjusted {account.organization}.")
                return redirect("admin:billing_billingaccount_change", account.pk)
        return render(
            request,
            "admin/billing/adjust.html",
            {
                **self.admin_site.each_context(request),
                "account": account,
                "form": form,
                "title": f"Adjust the balance of {account.organization}",
                "opts": self.model._meta,
            },
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "organization",
        "kind",
        "amount_usd",
        "reference",
        "description",
        "created_by",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["id", "reference", "organization__name", "organization__id", "description"]
    list_select_related = ["organization", "created_by"]
    date_hierarchy = "created_at"


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "organization",
        "api_key",
        "model",
        "tier",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    ]
    list_filter = ["tier", "day"]
    search_fields = ["id", "model", "organization__name", "organization__id", "api_key__id"]
    list_select_related = ["organization", "api_key"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(DailyUsage)
class DailyUsageAdmin(ReadOnlyAdmin):
    list_display = ["day", "organization", "api_key", "tier", "model", "requests", "cost_usd"]
    list_filter = ["tier", "day"]
    search_fields = ["organization__name", "organization__id", "model"]
    list_select_related = ["organization", "api_key"]


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "organization", "amount_usd", "status", "session_id", "created_by"]
    list_filter = ["status", "created_at"]
    search_fields = ["session_id", "idempotency_key", "organization__name", "organization__id"]
    list_select_related = ["organization", "created_by"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "received_at"]
    list_filter = ["type"]
    search_fields = ["id"]
