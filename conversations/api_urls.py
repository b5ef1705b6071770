from django.urls import path

from . import api

urlpatterns = [
    path("conversations", api.ConversationListView.as_view(), name="api_conversations"),
    path("conversations/<id:conversation_id>", api.ConversationDetailView.as_view(), name="api_conversation"),
    path("conversations/<id:conversation_id>/messages", api.MessageListView.as_view(), name="api_messages"),
]
