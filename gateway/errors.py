"""What each error code of the chat endpoint means, in a sentence for the pages.

The request log keeps the code the API answered with (``RequestLog.error_code``), not its message,
so the Requests page, a request's page and a key's page explain a code from here. The codes are the
API's stable contract; these sentences say what happened and what to do about it, and may change.
"""

import dataclasses
import logging

import psycopg
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext_lazy as _

from core.api import as_service_unavailable
from core.errors import ServiceUnavailable

from . import database

logger = logging.getLogger(__name__)

SPEND_CAP_EXCEEDED = "spend_cap_exceeded"

EXPLANATIONS = {
    # The request itself (400): nothing was sent to a provider.
    "invalid_json": _("The request body was not a JSON object."),
    "missing_model": _("The request named no model. Send “model”, e.g. nexevo/balanced."),
    "invalid_model": _("“model” was not a string."),
    "unknown_model": _(
        "No model of that name is offered: use nexevo/fast, nexevo/balanced or a model id served here."
    ),
    "invalid_messages": _("“messages” was missing or empty, or held something other than message objects."),
    "invalid_max_tokens": _("max_tokens (or max_completion_tokens) was not a whole number of at least 1."),
    "invalid_stream": _("“stream” was neither true nor false."),
    "invalid_type": _(
        "A field of the request had the wrong type (a number where a string belongs, say); the "
        "answer named it."
    ),
    "json_too_deep": _("The request body was nested too deeply (more than 64 levels of arrays and objects)."),
    "invalid_text": _(
        "A text in the request held a lone surrogate (such as \\ud800) or a NUL character, which "
        "cannot be stored or sent; the answer named where."
    ),
    "unsupported_parameter": _(
        "The request asked for something the gateway does not offer, such as n above 1."
    ),
    # Where it could go.
    "model_not_allowed_by_routing_policy": _(
        "The key's routing policy does not allow this model, which is served in another region. Use "
        "another model, or change the key's routing policy on its page."
    ),
    "no_eligible_model": _(
        "No model behind this name was available under the key's routing policy at that moment."
    ),
    "model_unavailable": _(
        "This model was switched off at that moment. Try again later or use another model."
    ),
    # How fast (429): refusals of the rate limits are answered but not logged (a client past its
    # limit costs no write per request); here for the API's sake.
    "rate_limit_exceeded": _(
        "The key's requests or tokens per minute were used up, or its client address sent too many "
        "requests with an invalid key. Retry after the seconds the answer's Retry-After gave."
    ),
    # Who pays (402).
    "insufficient_balance": _(
        "The organization's balance was used up. Top up on the Billing page; requests are served "
        "again at once."
    ),
    SPEND_CAP_EXCEEDED: _(
        "The key's monthly spend cap had no room for this request: either the cap was reached, or the "
        "request's worst-case cost, which is held against the cap before it runs, was more than what "
        "the cap had left. Setting max_tokens lowers a request's worst case."
    ),
    "service_unavailable": _(
        "Spend caps could not be checked at that moment, so requests of keys with a cap were paused. "
        "Nothing was charged; a retry a moment later is served."
    ),
    # The provider.
    "upstream_rejected": _(
        "The model provider refused the request as invalid (too long for the model, or a parameter it "
        "does not accept, for example). Its reason was passed on in the answer. Nothing was charged."
    ),
    "upstream_timeout": _(
        "The model provider did not answer in time on any model tried. Nothing was charged."
    ),
    "upstream_error": _(
        "The model provider failed to answer (a connection or server error) on every model tried. "
        "Nothing was charged."
    ),
    "upstream_closed_early": _(
        "The model provider stopped the stream before the end. What it had produced was charged."
    ),
    "client_disconnected": _(
        "The caller closed the connection before the answer was complete. What had been produced was charged."
    ),
    "client_closed": _(
        "The caller closed the connection before the answer was ready. The request was cancelled, the "
        "model provider's call with it, and nothing was charged."
    ),
    # Not logged as requests, but answered: here so that every code the endpoint gives has its sentence.
    "invalid_api_key": _("The API key was missing, malformed, revoked or unknown."),
    "key_expired": _("The API key had expired."),
    "request_too_large": _("The request body was too large."),
    "internal_error": _("Something went wrong on our side."),
}

# What the request log cannot say, the key can: a spend cap refusal of this month, of a key whose
# spend is still under its cap, was a worst case that did not fit, since the cap was never reached
# this month (the spend only grows within a month). The key's page and a request's page say so.
CAP_NOT_REACHED = _(
    "The cap was not reached this month: before a request runs, the most it could cost is held "
    "against the cap, and the worst case was more than what the cap had left. Without max_tokens the "
    "worst case assumes an answer as long as the model's context: set max_tokens in your requests, or "
    "raise the cap."
)
CAP_REACHED = _(
    "The cap is reached, so requests are refused until it is raised or the month ends (the 1st, 00:00 "
    "UTC). Before that, a request was refused if its worst-case cost was more than what the cap had "
    "left: setting max_tokens lowers it."
)


def explain(code: str) -> str:
    """The sentence for ``code``; an empty string for a code this module does not know (yet)."""
    return EXPLANATIONS.get(code, "")


def explain_for_key(code: str, *, cap_reached: bool | None) -> str:
    """``explain``, knowing whether the key's cap is reached this month (see ``CAP_NOT_REACHED``);
    ``cap_reached`` is None for a key without a cap now (it had one when it refused)."""
    if code == SPEND_CAP_EXCEEDED and cap_reached is not None:
        return CAP_REACHED if cap_reached else CAP_NOT_REACHED
    return explain(code)


# --- An exception the chat endpoint did not expect ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Failure:
    """How the chat endpoint answers an exception that escaped it, by either door (gateway.asgi and
    the Django view ``gateway.api.chat_completions``): ``message`` is translated when it is read."""

    status: int
    code: str
    message: str
    retry_after: int | None = None
    database_failed: bool = False  # a connection refused or broken: the door closes its connections

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


# A connection refused, broken or not had in time: retry later. Any other database error is a bug.
DATABASE_GONE = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)

INTERNAL_ERROR_MESSAGE = _("Something went wrong on our side. The error has been logged; please try again.")


def failure_of(error: BaseException) -> Failure:
    """The answer to ``error``, logged: 503 with Retry-After when the database, Redis or the broker
    is unreachable (retry later), 500 ``internal_error`` for anything else (our bug, an
    IntegrityError or a ProgrammingError included), as Django's error handling answers under /v1/."""
    if isinstance(error, database.Unavailable):  # waited for the database as long as a request may
        logger.warning("Answering 503: %s", error)
        return _unavailable(ServiceUnavailable())
    if isinstance(error, DATABASE_GONE):
        logger.warning("Answering 503: the database failed during a chat request: %r", error)
        return _unavailable(ServiceUnavailable(), database_failed=True)
    unavailable = as_service_unavailable(error)
    if unavailable is not None:
        return _unavailable(unavailable)
    logger.error("A chat request failed.", exc_info=error)
    return Failure(500, "internal_error", INTERNAL_ERROR_MESSAGE)


def _unavailable(unavailable: ServiceUnavailable, *, database_failed: bool = False) -> Failure:
    return Failure(
        503, unavailable.code, unavailable.message, unavailable.retry_after, database_failed=database_failed
    )
