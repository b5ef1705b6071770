from django.urls import path

from . import api

urlpatterns = [
    path("keys", api.KeyListView.as_view(), name="api_keys"),
    path("keys/<id:key_id>", api.KeyDetailView.as_view(), name="api_key"),
    path("keys/<id:key_id>/revoke", api.KeyRevokeView.as_view(), name="api_key_revoke"),
    path("keys/<id:key_id>/spend-cap", api.KeySpendCapView.as_view(), name="api_key_spend_cap"),
    path("keys/<id:key_id>/alert-webhook", api.KeyAlertWebhookView.as_view(), name="api_key_alert_webhook"),
    path(
        "keys/<id:key_id>/webhook-secret/rotate",
        api.KeyWebhookSecretRotateView.as_view(),
        name="api_key_webhook_secret_rotate",
    ),
    path(
        "keys/<id:key_id>/routing-policy", api.KeyRoutingPolicyView.as_view(), name="api_key_routing_policy"
    ),
]
