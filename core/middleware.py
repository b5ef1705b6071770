from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from .authentication import second_factor_pending

# Paths a user may reach between the password and the code: the code form itself, the ways in and
# out, and what a page needs to render. The API answers for itself (core.authentication).
_OPEN_PREFIXES = (
    "/accounts/2fa/verify/",
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/signup/",
    "/accounts/confirm-email/",
    "/accounts/password/reset/",
    "/accounts/inactive/",
    "/static/",
    "/v1/",
    "/healthz",
)


class SecondFactorRequiredMiddleware:
    """Keeps a user with a confirmed device on the code form until the second step passes.

    Runs after django-otp's OTPMiddleware, which tells whether this session has been verified.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if second_factor_pending(request.user) and not request.path.startswith(_OPEN_PREFIXES):
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('two_factor_verify')}?{query}")
        return self.get_response(request)
