"""No secret in any log line: API keys (``nx_…``) and Authorization values are blanked out of every
record that passes the handlers of ``LOGGING`` (nexevo_site/settings.py), uvicorn's access log
included, before anything formats it.

A key pasted into a query string (``/v1/keys?api_key=nx_…``) is refused, but uvicorn writes the
request line to its access log as it came; so does any message or traceback that quotes a URL or a
header. The filter rewrites the record's message, its arguments (one by one, so that uvicorn's
access formatter still finds its five) and its traceback's text.
"""

import logging
import re

REDACTED = "[redacted]"

_PATTERNS = (
    # A key, whole or in part: "nx_" and what follows it in the key's alphabet.
    (re.compile(r"nx_[A-Za-z0-9]{4,}"), f"nx_{REDACTED}"),
    # An Authorization header or parameter, with or without its scheme: "Authorization: Bearer x",
    # "'authorization': 'Basic x'", "?authorization=x".
    (
        re.compile(
            r"""(?i)(\bauthorization["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token)(?:\s+|%20|\+))?[^\s"',;&]+"""
        ),
        rf"\1{REDACTED}",
    ),
    # A bearer token anywhere else.
    (re.compile(r"(?i)(\bbearer(?:\s+|%20|\+))[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("latin-1")).encode("latin-1")
    return value


class RedactSecrets(logging.Filter):
    """Blanks out keys and Authorization values in a record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        elif not isinstance(record.msg, int | float):
            record.msg = redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {name: _redacted(arg) for name, arg in record.args.items()}
        if record.exc_info and not record.exc_text:
            # Formatted here once, as Formatter.format would, so the traceback is written redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
