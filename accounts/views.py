import json
from base64 import b32encode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from core.errors import ServiceError

from . import services
from .forms import CodeForm, DeactivateForm, ProfileForm, TwoFactorSetupForm
from .selectors import account_export, organizations_blocking_deactivation, recovery_codes_remaining


def _form_error(form, error: ServiceError) -> None:
    field = error.param if error.param in form.fields else None
    form.add_error(field, error.message)


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, initial={"full_name": request.user.full_name})
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(user=request.user, full_name=form.cleaned_data["full_name"])
        except ServiceError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Profile saved."))
            return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def security(request):
    return render(
        request,
        "accounts/security.html",
        {
            "recovery_codes_remaining": recovery_codes_remaining(user=request.user),
            "code_form": CodeForm(),
        },
    )


@never_cache
@login_required
def two_factor_setup(request):
    if request.user.two_factor_enabled:
        messages.info(request, _("Two-factor authentication is already on."))
        return redirect("security")
    device = services.two_factor_setup_begin(user=request.user)
    form = TwoFactorSetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.two_factor_setup_confirm(user=request.user, **form.cleaned_data)
        except ServiceError as error:
            _form_error(form, error)
        else:
            device.refresh_from_db()
            otp_login(request, device)
            messages.success(request, _("Two-factor authentication is on."))
            return _recovery_codes_page(request, codes)
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": services.totp_qr_svg(device),
            "secret": _base32_secret(device),
        },
    )


def _base32_secret(device) -> str:
    return b32encode(device.bin_key).decode()


def _recovery_codes_page(request, codes):
    response = render(request, "accounts/recovery_codes.html", {"codes": codes})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def recovery_codes_regenerate(request):
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            codes = services.recovery_codes_regenerate(user=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            return _recovery_codes_page(request, codes)
    else:
        messages.error(request, _("Enter a code to make new recovery codes."))
    return redirect("security")


@require_POST
@login_required
def two_factor_disable(request):
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            services.two_factor_disable(user=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Two-factor authentication is off."))
    else:
        messages.error(request, _("Enter a current code to turn two-factor off."))
    return redirect("security")


@never_cache
@login_required
def two_factor_verify(request):
    """The second step of signing in, for users with a confirmed device."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    if not request.user.two_factor_enabled or request.user.is_verified():
        return redirect(next_url or "dashboard")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.two_factor_check(user=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            _form_error(form, error)
        else:
            otp_login(request, device)
            return redirect(next_url or "dashboard")
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": next_url})


@login_required
def privacy(request):
    return _privacy_page(request, DeactivateForm())


def _privacy_page(request, form, status=200):
    return render(
        request,
        "accounts/privacy.html",
        {
            "form": form,
            "blocking": list(organizations_blocking_deactivation(user=request.user)),
            "grace_days": settings.NEXEVO_ERASURE_GRACE_DAYS,
        },
        status=status,
    )


@login_required
def export(request):
    data = account_export(user=request.user)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="nexevo-export-{request.user.id}.json"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def deactivate(request):
    form = DeactivateForm(request.POST)
    if form.is_valid():
        try:
            services.account_deactivate(
                user=request.user, password=form.cleaned_data["password"], code=form.cleaned_data["code"]
            )
        except ServiceError as error:
            _form_error(form, error)
        else:
            logout(request)
            return render(request, "accounts/deactivated.html")
    return _privacy_page(request, form, status=400)
