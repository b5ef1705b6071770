from django.urls import path

from . import api

urlpatterns = [
    path("billing/balance", api.BalanceView.as_view(), name="api_billing_balance"),
    path("billing/usage", api.UsageView.as_view(), name="api_billing_usage"),
    path("billing/plan", api.PlanView.as_view(), name="api_billing_plan"),
    path("billing/upgrade-hint", api.UpgradeHintView.as_view(), name="api_billing_upgrade_hint"),
    path("billing/checkout", api.CheckoutView.as_view(), name="api_billing_checkout"),
    path("billing/transactions", api.TransactionListView.as_view(), name="api_billing_transactions"),
    path("billing/stripe/webhook", api.StripeWebhookView.as_view(), name="api_stripe_webhook"),
]
