import json
from base64 import b32encode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from core.errors import ServiceError
from core.web import focus_first_error, form_error_from_service

from . import services
from .forms import CodeForm, CurrentCodeForm, DeactivateForm, ProfileForm, TwoFactorSetupForm
from .selectors import account_export, organizations_blocking_deactivation, recovery_codes_remaining


@login_required
def profile(request):
    form = ProfileForm(
        request.POST if request.method == "POST" else None, initial={"full_name": request.user.full_name}
    )
    if form.is_valid():  # only a POST binds it
        try:
            services.profile_update(user=request.user, full_name=form.cleaned_data["full_name"])
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            messages.success(request, _("Profile saved."))
            return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form}, status=400 if form.is_bound else 200)


@require_POST
def language_set(request):
    """The language switch (templates/includes/language_switch.html) and the profile's choice.

    Saved on the profile of a signed-in user, so that it follows them to any browser and their
    e-mails are written in it; in the ``nexevo_language`` cookie for a visitor who is signed out.
    """
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = "/"
    response = redirect(next_url)
    if language and language not in dict(settings.LANGUAGES):
        messages.error(request, _("Choose a language from the list."))
        return response
    if request.user.is_authenticated:
        services.user_language_set(user=request.user, language=language)
        translation.activate(language or translation.get_language())
    elif language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=True,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    return response


def _regenerate_form(data=None):
    # Two code forms on one page: the inputs share the name "code" but not an id.
    return CurrentCodeForm(data, auto_id="regenerate_%s")


def _disable_form(data=None):
    return CurrentCodeForm(data, auto_id="disable_%s")


@login_required
def security(request):
    return _security_page(request)


def _security_page(request, *, regenerate_form=None, disable_form=None, status=200):
    for form in (regenerate_form, disable_form):
        if form is not None and form.errors:
            focus_first_error(form)
    return render(
        request,
        "accounts/security.html",
        {
            "recovery_codes_remaining": recovery_codes_remaining(user=request.user),
            "regenerate_form": regenerate_form or _regenerate_form(),
            "disable_form": disable_form or _disable_form(),
        },
        status=status,
    )


@never_cache
@login_required
def two_factor_setup(request):
    if request.user.two_factor_enabled:
        messages.info(request, _("Two-factor authentication is already on."))
        return redirect("security")
    device = services.two_factor_setup_begin(user=request.user)
    form = TwoFactorSetupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.two_factor_setup_confirm(user=request.user, **form.cleaned_data)
        except ServiceError as error:
            form_error_from_service(form, error)
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
        status=400 if form.is_bound else 200,
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
    form = _regenerate_form(request.POST)
    if form.is_valid():
        try:
            codes = services.recovery_codes_regenerate(user=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            return _recovery_codes_page(request, codes)
    return _security_page(request, regenerate_form=form, status=400)


@require_POST
@login_required
def two_factor_disable(request):
    form = _disable_form(request.POST)
    if form.is_valid():
        try:
            services.two_factor_disable(user=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            messages.success(request, _("Two-factor authentication is off."))
            return redirect("security")
    return _security_page(request, disable_form=form, status=400)


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
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.two_factor_check(user=request.user, code=form.cleaned_data["code"])
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            otp_login(request, device)
            return redirect(next_url or "dashboard")
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": next_url},
        status=400 if form.is_bound else 200,
    )


@login_required
def privacy(request):
    return _privacy_page(request, DeactivateForm(code_required=request.user.two_factor_enabled))


def _privacy_page(request, form, status=200):
    if form.errors:
        focus_first_error(form)
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
    form = DeactivateForm(request.POST, code_required=request.user.two_factor_enabled)
    if form.is_valid():
        try:
            services.account_deactivate(
                user=request.user, password=form.cleaned_data["password"], code=form.cleaned_data["code"]
            )
        except ServiceError as error:
            form_error_from_service(form, error)
        else:
            logout(request)
            return render(request, "accounts/deactivated.html")
    return _privacy_page(request, form, status=400)
