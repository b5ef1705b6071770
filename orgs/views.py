from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .selectors import ACTIVE_ORGANIZATION_SESSION_KEY, membership_get


@require_POST
@login_required
def organization_switch(request):
    membership = membership_get(user=request.user, organization_id=request.POST.get("organization_id", ""))
    if membership is None:
        messages.error(request, _("You are not a member of that organization."))
    else:
        request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = membership.organization_id
        messages.success(request, _("Now showing %(name)s.") % {"name": membership.organization.name})
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "dashboard"
    return redirect(next_url)
