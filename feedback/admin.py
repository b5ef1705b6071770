from django.contrib import admin

from .models import Feedback


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["id", "generation", "model", "rating", "user", "organization", "updated_at"]
    list_filter = ["rating", "model", "updated_at"]
    search_fields = ["id", "generation__id", "model", "comment", "organization__name", "user__email"]
    list_select_related = ["organization", "user", "generation"]
    readonly_fields = ["id", "organization", "generation", "user", "model", "created_at", "updated_at"]
