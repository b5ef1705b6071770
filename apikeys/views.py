from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from core.errors import ServiceError
from orgs.audit import client_ip
from orgs.permissions import can_manage_key
from orgs.selectors import active_membership

from .forms import KeyCreateForm
from .selectors import key_get_for_organization, keys_of_organization
from .services import key_create, key_revoke


@never_cache
@login_required
def key_list(request):
    membership = active_membership(request)
    form = KeyCreateForm(request.POST or None)
    full_key = None
    if request.method == "POST" and form.is_valid():
        try:
            api_key, full_key = key_create(
                organization=membership.organization, created_by=request.user, name=form.cleaned_data["name"]
            )
        except ServiceError as error:
            form.add_error("name", error.message)
        else:
            form = KeyCreateForm()
    keys = list(keys_of_organization(organization=membership.organization))
    return render(
        request,
        "apikeys/key_list.html",
        {
            "form": form,
            "keys": keys,
            "full_key": full_key,
            "manageable": {key.id for key in keys if can_manage_key(membership, key)},
        },
    )


@login_required
def key_revoke_confirm(request, key_id):
    membership = active_membership(request)
    api_key = key_get_for_organization(organization=membership.organization, key_id=key_id)
    if api_key is None or not can_manage_key(membership, api_key):
        raise Http404
    if request.method == "POST":
        key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
        messages.success(
            request, _("Key “%(name)s” revoked. It stops working at once.") % {"name": api_key.name}
        )
        return redirect("key_list")
    return render(request, "apikeys/key_revoke_confirm.html", {"key": api_key})
