"""The gateway's pages: the Requests log (every call to the chat endpoint) and the organization's own
provider keys (bring your own key)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apikeys.selectors import keys_of_organization
from core.errors import NotFound, ServiceError
from core.pagination import paginate
from core.web import form_error_from_service, pager, service_error_response
from orgs.audit import client_ip
from orgs.permissions import Action, can, require
from orgs.selectors import active_membership

from . import provider_keys, selectors
from .errors import explain
from .forms import ProviderKeyForm, RequestFilterForm
from .models import Provider

REQUESTS_PER_PAGE = 50


@login_required
def request_list(request):
    organization = active_membership(request).organization
    keys = list(keys_of_organization(organization=organization).values_list("id", "name"))
    form = RequestFilterForm(request.GET, keys=keys)
    requests = form.filter(selectors.requests_of_organization(organization=organization))
    cursor = request.GET.get("cursor") or None
    try:
        page = paginate(requests, ordering=("-created_at", "-id"), limit=REQUESTS_PER_PAGE, cursor=cursor)
    except ServiceError:
        messages.error(request, _("That page link is not valid any more. Showing the newest requests."))
        page = paginate(requests, ordering=("-created_at", "-id"), limit=REQUESTS_PER_PAGE, cursor=None)
    provider_names = selectors.provider_names()
    for logged in page.items:
        logged.provider_name = provider_names.get(logged.provider, logged.provider)
        logged.explanation = explain(logged.error_code) if logged.error_code else ""
    has_any_request = (
        bool(page.items) or selectors.requests_of_organization(organization=organization).exists()
    )
    return render(
        request,
        "gateway/request_list.html",
        {
            "form": form,
            "page": page,
            "pager": pager(request, page),
            # Without a row under the filters there is nothing to total: one statement saved.
            "totals": selectors.request_totals(requests) if page.items else None,
            "known_models": selectors.known_models(),
            "chat_url": request.build_absolute_uri("/v1/chat/completions"),
            "has_any_request": has_any_request,
        },
    )


@login_required
def request_detail(request, generation_id):
    organization = active_membership(request).organization
    logged = selectors.request_of_organization(organization=organization, generation_id=generation_id)
    if logged is None:
        raise Http404
    served, feedback = selectors.feedback_on_request(organization=organization, logged=logged)
    return render(
        request,
        "gateway/request_detail.html",
        {
            "logged": logged,
            "explanation": selectors.explanation_of_request(logged),
            "served": served,
            "feedback": feedback,
            "provider": Provider.objects.filter(id=logged.provider).first() if logged.provider else None,
        },
    )


# --- Provider keys --------------------------------------------------------------------------------


def _provider_key_or_404(membership, provider_id):
    try:
        return provider_keys.provider_key_get(organization=membership.organization, provider_id=provider_id)
    except NotFound:
        raise Http404 from None


@never_cache
@login_required
def provider_key_list(request):
    membership = active_membership(request)
    providers = list(provider_keys.providers_accepting_keys())
    form = ProviderKeyForm(request.POST or None, providers=providers)
    if request.method == "POST" and form.is_valid():
        try:
            stored, created = provider_keys.provider_key_set(
                membership=membership,
                provider_id=form.cleaned_data["provider"],
                api_key=form.cleaned_data["api_key"],
                ip=client_ip(request),
            )
        except ServiceError as error:
            if error.status == 403:
                return service_error_response(request, error, back_to="provider_key_list")
            form_error_from_service(form, error)
        else:
            message = _("Key for %(provider)s saved.") if created else _("Key for %(provider)s replaced.")
            messages.success(request, message % {"provider": stored.provider.name})
            return redirect("provider_key_list")
    return render(
        request,
        "gateway/provider_keys.html",
        {
            "form": form,
            "stored_keys": provider_keys.provider_keys_of(organization=membership.organization),
            "can_manage": can(membership, Action.MANAGE_PROVIDER_KEYS),
        },
    )


@require_POST
@login_required
def provider_key_test(request, provider_id):
    membership = active_membership(request)
    stored = _provider_key_or_404(membership, provider_id)
    try:
        check = provider_keys.provider_key_test(membership=membership, provider_key=stored)
    except ServiceError as error:
        return service_error_response(request, error, back_to="provider_key_list")
    (messages.success if check.ok else messages.error)(request, check.message)
    return redirect("provider_key_list")


@login_required
def provider_key_remove(request, provider_id):
    membership = active_membership(request)
    stored = _provider_key_or_404(membership, provider_id)
    try:
        # Refused before the confirmation page too, rather than after a click that leads nowhere.
        require(membership, Action.MANAGE_PROVIDER_KEYS)
    except ServiceError as error:
        return service_error_response(request, error, back_to="provider_key_list")
    if request.method == "POST":
        try:
            provider_keys.provider_key_remove(
                membership=membership, provider_key=stored, ip=client_ip(request)
            )
        except ServiceError as error:
            return service_error_response(request, error, back_to="provider_key_list")
        messages.success(
            request,
            _("Key for %(provider)s removed. Its models use Nexevo's key again.")
            % {"provider": stored.provider.name},
        )
        return redirect("provider_key_list")
    return render(request, "gateway/provider_key_remove_confirm.html", {"stored": stored})
