from django.urls import path

from . import views

urlpatterns = [
    path("", views.billing, name="billing"),
    path("top-up/", views.top_up, name="top_up"),
    path("top-up/success/", views.top_up_finished, {"outcome": "success"}, name="top_up_success"),
    path("top-up/cancelled/", views.top_up_finished, {"outcome": "cancelled"}, name="top_up_cancelled"),
    path("plan/", views.plan_change, name="plan_change"),
    path("low-balance-alert/", views.low_balance_alert, name="low_balance_alert"),
    path("transactions.csv", views.transactions_csv, name="transactions_csv"),
    path("usage/", views.usage, name="usage"),
    path("usage.csv", views.usage_csv, name="usage_csv"),
    path("generations/<id:generation_id>/", views.generation_detail, name="generation_detail"),
]
