from django.contrib import admin

from .models import Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["joined_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "is_personal", "created_at"]
    list_filter = ["is_personal", "created_at"]
    search_fields = ["name", "id", "memberships__user__email"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]
    date_hierarchy = "created_at"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "joined_at"]
    list_filter = ["role", "organization__is_personal"]
    search_fields = ["user__email", "organization__name", "organization__id", "user__id"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["joined_at"]
