from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from alerts import selectors as alert_selectors
from alerts import services as alert_services
from core.errors import NotFound, ServiceError
from core.months import month_start
from core.web import form_error_from_service
from gateway import selectors as gateway_selectors
from orgs.audit import client_ip
from orgs.permissions import Action, can
from orgs.selectors import active_membership

from . import services
from .forms import SERVICE_FIELDS, KeyCreateForm, KeySettingsForm
from .selectors import key_get_visible, keys_visible_to, plan_rate_limits


def _settings_form(request, api_key, data=None) -> KeySettingsForm:
    return KeySettingsForm(
        data,
        initial=KeySettingsForm.initial_for(api_key),
        api_key=api_key,
        can_lock=can(active_membership(request), Action.LOCK_KEY_LIMITS),
        plan_limits=plan_rate_limits(organization=api_key.organization),
    )


def _detail(request, api_key, form, *, status=200, **extra):
    return render(
        request,
        "apikeys/key_detail.html",
        {
            "key": api_key,
            "form": form,
            "plan_limits": form.plan_limits,
            "refusals": gateway_selectors.refusals_of_key_this_month(api_key=api_key),
            "month_start": month_start(timezone.now()),
            "spend_alerts": alert_selectors.spend_alerts_of_key(api_key=api_key),
            "deliveries": alert_selectors.deliveries_of_key(api_key=api_key),
            **extra,
        },
        status=status,
    )


def _visible_key_or_404(request, key_id):
    try:
        return key_get_visible(active_membership(request), key_id)
    except NotFound:
        raise Http404 from None


def _post_only(view):
    """A page that only a form's POST shows (the revealed signing secret). Opened some other way
    (reloading it, going back to it, a link pasted), it leads to the key's page rather than a bare
    405. The other POST-only actions answer with a redirect, so a browser never reloads them."""

    @wraps(view)
    def wrapper(request, key_id, **kwargs):
        if request.method in ("GET", "HEAD"):
            api_key = _visible_key_or_404(request, key_id)
            return redirect("key_detail", key_id=api_key.id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return view(request, key_id, **kwargs)

    return wrapper


@never_cache
@login_required
def key_list(request):
    membership = active_membership(request)
    plan_limits = plan_rate_limits(organization=membership.organization)
    require_cap = membership.organization.require_key_cap
    form = KeyCreateForm(request.POST or None, plan_limits=plan_limits, require_cap=require_cap)
    created = None
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            created = services.key_create(
                organization=membership.organization,
                created_by=request.user,
                name=form.cleaned_data["name"],
                ip=client_ip(request),
                **form.service_arguments(),
            )
        except ServiceError as error:
            form_error_from_service(form, error, fields=SERVICE_FIELDS)
            status = error.status
        else:
            form = KeyCreateForm(plan_limits=plan_limits, require_cap=require_cap)
    keys = list(keys_visible_to(membership).order_by("-created_at", "-id"))
    return render(
        request,
        "apikeys/key_list.html",
        {
            "form": form,
            "keys": keys,
            "new_key": created[0] if created else None,
            "full_key": created[1] if created else None,
            "require_key_cap": require_cap,
        },
        status=400 if form.errors and status == 200 else status,
    )


@never_cache
@login_required
def key_detail(request, key_id):
    api_key = _visible_key_or_404(request, key_id)
    form = _settings_form(request, api_key, request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.key_update(
                api_key=api_key,
                actor=request.user,
                ip=client_ip(request),
                name=form.cleaned_data["name"],
                **form.service_arguments(),
            )
        except ServiceError as error:
            form_error_from_service(form, error, fields=SERVICE_FIELDS)
            status = error.status
        else:
            messages.success(request, _("Saved."))
            return redirect("key_detail", key_id=api_key.id)
    return _detail(request, api_key, form, status=400 if form.errors and status == 200 else status)


@never_cache
@login_required
@_post_only
def key_webhook_secret(request, key_id):
    """Shows (and with ``rotate``, first replaces) the webhook signing secret, on a page never cached."""
    api_key = _visible_key_or_404(request, key_id)
    if request.POST.get("action") == "rotate":
        try:
            api_key = services.key_rotate_webhook_secret(
                api_key=api_key, actor=request.user, ip=client_ip(request)
            )
        except ServiceError as error:
            messages.error(request, error.message)
            return redirect("key_detail", key_id=api_key.id)
        messages.success(request, _("New signing secret made. The old one keeps signing for a day."))
    return _detail(request, api_key, _settings_form(request, api_key), show_secret=True)


@never_cache
@require_POST
@login_required
def key_send_test_event(request, key_id):
    api_key = _visible_key_or_404(request, key_id)
    try:
        alert_services.webhook_test_send(api_key=api_key)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Test event queued. It appears under Alert deliveries."))
    return redirect("key_detail", key_id=api_key.id)


@never_cache
@require_POST
@login_required
def key_redeliver(request, key_id, delivery_id):
    api_key = _visible_key_or_404(request, key_id)
    try:
        delivery = alert_selectors.delivery_get_of_key(api_key=api_key, delivery_id=delivery_id)
    except NotFound:
        raise Http404 from None
    try:
        alert_services.delivery_redeliver(delivery=delivery)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Redelivery queued."))
    return redirect("key_detail", key_id=api_key.id)


@login_required
def key_revoke_confirm(request, key_id):
    api_key = _visible_key_or_404(request, key_id)
    if request.method == "POST":
        services.key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
        messages.success(
            request, _("Key “%(name)s” revoked. It stops working at once.") % {"name": api_key.name}
        )
        return redirect("key_list")
    return render(request, "apikeys/key_revoke_confirm.html", {"key": api_key})
