from urllib.parse import urlencode

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class NexevoAdminSite(admin.AdminSite):
    """Django admin for staff who have passed a second factor in this session.

    Signing in happens on the console's own pages (password, then code); the admin never shows a
    password form of its own, so it cannot become a way around two-factor.
    """

    site_header = gettext_lazy("Nexevo Console administration")
    site_title = gettext_lazy("Nexevo admin")
    index_title = gettext_lazy("Administration")

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_staff and user.is_verified()

    def login(self, request, extra_context=None):
        user = request.user
        next_url = request.GET.get("next") or reverse("admin:index")
        if not user.is_authenticated:
            return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
        if not user.is_staff:
            messages.error(request, _("Django admin is for Nexevo staff."))
            return redirect("dashboard")
        if not user.two_factor_enabled:
            messages.warning(request, _("Set up two-factor authentication to use Django admin."))
            return redirect("two_factor_setup")
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': next_url})}")
