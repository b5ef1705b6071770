"""Content-Security-Policy and Permissions-Policy on every response.

The console's own pages run no inline script and carry no inline style: their script is
``static/js/app.js`` (which sets element.style through the CSSOM, as CSP allows), their styles
``static/css/app.css``. Their policy (``CONTENT_SECURITY_POLICY`` in the settings) says so.

Two kinds of page are allowed more, and only they:

- **The API reference** (Swagger UI at /v1/docs/, ReDoc at /v1/redoc/, drf-spectacular's views with
  the sidecar's files): each starts its viewer from an inline script, which carries a nonce drawn
  for that response (``request.csp_nonce``, used by templates/drf_spectacular/), and ReDoc writes its
  styles into ``<style>`` elements as it renders, so these pages get
  ``CONTENT_SECURITY_POLICY_API_DOCS`` plus the nonce.
- **The 500 page** (templates/500.html) keeps its few styles inline, since it must look right when
  the static files are what failed; exactly those ``<style>`` blocks are allowed, by their hash.

This module is also the one header policy of both doors of the chat endpoint: ``host_allowed()`` and
``response_headers()`` are what gateway.asgi applies in front of Django, and what Django's
middleware applies behind it (tests/gateway/test_door_parity.py holds them to each other).
"""

import base64
import hashlib
import re
import secrets
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.http.request import split_domain_port, validate_host
from django.template.loader import get_template
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

API_DOCS_VIEWS = (SpectacularSwaggerView, SpectacularRedocView)


class Nonce:
    """A nonce for this response's inline scripts, drawn the first time a template prints it: the
    policy names it only if something used it."""

    def __init__(self):
        self._value = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = secrets.token_urlsafe(18)
        return self._value

    @property
    def used(self) -> bool:
        return self._value is not None


def serialize(policy: dict[str, list[str]]) -> str:
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


@cache
def error_page_style_hashes() -> tuple[str, ...]:
    """The CSP hashes of the ``<style>`` blocks of templates/500.html (which hold no template tags)."""
    source = get_template("500.html").template.source
    blocks = re.findall(r"<style>(.*?)</style>", source, re.S)
    return tuple(
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'" for block in blocks
    )


def _with(policy: dict[str, list[str]], directive: str, *sources: str) -> dict[str, list[str]]:
    return {**policy, directive: [*policy.get(directive, policy.get("default-src", [])), *sources]}


# The Vary of the API's answers under Django: LocaleMiddleware adds Accept-Language (messages follow
# the client's languages) and SessionMiddleware Cookie (a signed-in user's saved language comes first,
# core.middleware). The door in front of Django sends the same (tests/gateway/test_door_parity.py).
API_VARY = "Accept-Language, Cookie"

LOCAL_HOSTS = [".localhost", "127.0.0.1", "[::1]"]  # what Django allows with DEBUG and no ALLOWED_HOSTS


def host_allowed(host: str) -> bool:
    """Whether a request for ``host`` (its Host header) is one this server answers: Django's rule
    (``HttpRequest.get_host``), for the door that runs before Django."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = LOCAL_HOSTS
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


@cache
def response_headers(*, secure: bool) -> dict[str, str]:
    """The security headers of every response that is not a page (the API's JSON and streams), by
    either door: what Django's SecurityMiddleware and XFrameOptionsMiddleware and this module's
    middleware set, in one place. ``secure``: the request came over HTTPS (HSTS is sent only then).
    Kept until a setting changes."""
    headers = {}
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers["Referrer-Policy"] = policy if isinstance(policy, str) else ",".join(policy)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    headers["X-Frame-Options"] = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()
    headers["Content-Security-Policy"] = serialize(settings.CONTENT_SECURITY_POLICY)
    headers["Permissions-Policy"] = settings.PERMISSIONS_POLICY
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers["Strict-Transport-Security"] = hsts
    return headers


def _forget_response_headers(**kwargs) -> None:
    response_headers.cache_clear()


setting_changed.connect(_forget_response_headers, dispatch_uid="core-security-response-headers")


class SecurityHeadersMiddleware:
    """Sets the security headers (``response_headers()``) on every response that has them not yet,
    with the Content-Security-Policy of its page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = Nonce()
        response = self.get_response(request)
        # Django's debug pages (the 404 and the traceback with DEBUG on) are inline script and
        # style: on a developer's machine they stay readable.
        debug_page = settings.DEBUG and response.status_code in (404, 500)
        if "Content-Security-Policy" not in response and not debug_page:
            response["Content-Security-Policy"] = serialize(self.policy_for(request, response))
        for name, value in response_headers(secure=request.is_secure()).items():
            if name == "X-Frame-Options" and getattr(response, "xframe_options_exempt", False):
                continue
            if name != "Content-Security-Policy":
                response.headers.setdefault(name, value)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "view_class", None)
        request.csp_api_docs = isinstance(view_class, type) and issubclass(view_class, API_DOCS_VIEWS)

    @staticmethod
    def policy_for(request, response) -> dict[str, list[str]]:
        if getattr(request, "csp_api_docs", False):
            policy = settings.CONTENT_SECURITY_POLICY_API_DOCS
        else:
            policy = settings.CONTENT_SECURITY_POLICY
        if request.csp_nonce.used:
            policy = _with(policy, "script-src", f"'nonce-{request.csp_nonce}'")
        if response.status_code >= 500 and response.get("Content-Type", "").startswith("text/html"):
            policy = _with(policy, "style-src", *error_page_style_hashes())
        return policy
