from django.contrib import admin

from .models import Conversation, Message


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "organization", "message_count", "updated_at"]
    search_fields = ["id", "title", "organization__name", "organization__id"]
    list_filter = ["updated_at"]
    list_select_related = ["organization"]
    readonly_fields = ["id", "organization", "created_by", "message_count", "created_at", "updated_at"]
    date_hierarchy = "updated_at"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "seq", "role", "created_at"]
    search_fields = ["id", "conversation__id", "conversation__title", "content"]
    list_filter = ["role"]
    list_select_related = ["conversation"]
    readonly_fields = ["id", "conversation", "seq", "created_at"]
    show_full_result_count = False
