"""Outgoing e-mail: rendered in the request, sent by a task once the transaction has committed.

A rolled-back transaction therefore sends nothing, and a slow mail server never holds a request.
While the broker (Redis) is down, the message is sent from the request's own process instead
(``core.background``), so it is not lost.
"""

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string

from .background import enqueue_after_commit


def send_after_commit(message: EmailMessage) -> None:
    payload = {
        "subject": message.subject,
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "html": next(
            (
                content
                for content, mimetype in getattr(message, "alternatives", [])
                if mimetype == "text/html"
            ),
            None,
        ),
    }
    from .tasks import send_email

    # A mail server that is down must not turn a committed sign-up into an error page: robust.
    enqueue_after_commit(send_email, payload)


def send_templated_after_commit(template_prefix: str, *, to: list[str], context: dict) -> None:
    """Renders ``<prefix>_subject.txt``, ``<prefix>_message.txt`` and ``<prefix>_message.html``."""
    subject = " ".join(render_to_string(f"{template_prefix}_subject.txt", context).split())
    text = render_to_string(f"{template_prefix}_message.txt", context).strip()
    html = render_to_string(f"{template_prefix}_message.html", context).strip()
    message = EmailMultiAlternatives(f"[Nexevo] {subject}", text, settings.DEFAULT_FROM_EMAIL, to)
    message.attach_alternative(html, "text/html")
    send_after_commit(message)
