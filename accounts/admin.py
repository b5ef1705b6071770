from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from .models import User


class NexevoUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class NexevoUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = NexevoUserChangeForm
    add_form = NexevoUserCreationForm
    ordering = ["-date_joined"]
    list_display = [
        "email",
        "full_name",
        "id",
        "email_verified",
        "two_factor_enabled",
        "is_active",
        "is_staff",
        "date_joined",
    ]
    list_filter = [
        "is_active",
        "is_staff",
        "is_superuser",
        "email_verified",
        "two_factor_enabled",
        "date_joined",
    ]
    search_fields = ["email", "full_name", "id"]
    readonly_fields = [
        "id",
        "last_login",
        "date_joined",
        "email_verified",
        "two_factor_enabled",
        "deactivated_at",
        "erased_at",
    ]
    date_hierarchy = "date_joined"
    fieldsets = [
        (None, {"fields": ["id", "email", "password"]}),
        (_("Profile"), {"fields": ["full_name", "language", "email_verified", "two_factor_enabled"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"fields": ["last_login", "date_joined", "deactivated_at", "erased_at"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]}),
    ]
