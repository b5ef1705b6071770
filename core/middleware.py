from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers

from .authentication import second_factor_pending
from .languages import language_from_accept_language, language_of_request

# Paths a user may reach between the password and the code: the code form itself, the ways in and
# out, and what a page needs to render. The API answers for itself (core.authentication).
_OPEN_PREFIXES = (
    "/favicon.ico",
    "/accounts/2fa/verify/",
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/signup/",
    "/accounts/confirm-email/",
    "/accounts/password/reset/",
    "/accounts/inactive/",
    "/settings/language/",
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


class LanguageMiddleware:
    """Activates the language of the request (core.languages): under /v1/ the one Accept-Language
    asks for; elsewhere the signed-in user's saved choice, else the cookie, else Accept-Language.

    It comes after AuthenticationMiddleware, so that the user's choice is known; Django's
    LocaleMiddleware, earlier in the list, answers in the cookie's or the browser's language what is
    refused before this one runs, and writes Content-Language from the language active at the end.
    The console has no language prefixes in its URLs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/v1/"):
            language = language_from_accept_language(request.headers.get("Accept-Language", ""))
        else:
            language = language_of_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response


class ServiceUnavailableMiddleware:
    """A view that fails because Redis or the task queue is unreachable answers 503 (the error
    envelope under /v1/, a "back in a moment" page elsewhere), never a 500. Failures outside views
    reach ``core.views.server_error``, which does the same."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from .api import as_service_unavailable
        from .views import service_unavailable_response

        unavailable = as_service_unavailable(exception)
        if unavailable is None:
            return None
        return service_unavailable_response(request, unavailable)
