from django.urls import path

from . import api

urlpatterns = [
    path("feedback", api.FeedbackView.as_view(), name="api_feedback"),
    path("feedback/summary", api.FeedbackSummaryView.as_view(), name="api_feedback_summary"),
]
