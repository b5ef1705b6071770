from django.urls import path

from . import views

urlpatterns = [
    path("", views.key_list, name="key_list"),
    path("<id:key_id>/", views.key_detail, name="key_detail"),
    path("<id:key_id>/webhook-secret/", views.key_webhook_secret, name="key_webhook_secret"),
    path("<id:key_id>/revoke/", views.key_revoke_confirm, name="key_revoke"),
    path("<id:key_id>/webhook-test/", views.key_send_test_event, name="key_send_test_event"),
    path("<id:key_id>/deliveries/<id:delivery_id>/redeliver/", views.key_redeliver, name="key_redeliver"),
]
