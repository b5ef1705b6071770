"""Which language a page, an API message or an e-mail is written in.

Pages: a signed-in user's saved choice (``User.language``), else the ``nexevo_language`` cookie of a
signed-out visitor's choice, else the browser's ``Accept-Language``, else English. The API (/v1/)
follows ``Accept-Language`` only: its ``code`` is the contract, its ``message`` a courtesy.
E-mails: the recipient's saved choice, whoever sends them (``language_for_recipient``).
"""

from django.conf import settings
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header


def supported(code: str | None) -> str | None:
    """``code`` as one of settings.LANGUAGES (``zh-CN`` -> ``zh-hans``), or None."""
    if not code:
        return None
    try:
        return get_supported_language_variant(code.strip().lower())
    except LookupError:
        return None


def language_from_accept_language(header: str) -> str:
    for code, _quality in parse_accept_lang_header(header or ""):
        if code == "*":
            break
        language = supported(code)
        if language:
            return language
    return settings.LANGUAGE_CODE


def language_of_request(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and supported(user.language):
        return supported(user.language)
    return supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)) or language_from_accept_language(
        request.headers.get("Accept-Language", "")
    )


def language_for_recipient(user=None, *, fallback: str | None = None) -> str:
    """The language of an e-mail to ``user``: their saved choice, else ``fallback`` (e.g. the
    language of the request that sends it, for an address with no account), else English."""
    return (
        supported(getattr(user, "language", None)) or supported(fallback) or settings.LANGUAGE_CODE
    )
