"""Outgoing e-mail: rendered in the request, sent by a task once the transaction has committed.

A rolled-back transaction therefore sends nothing, and a slow mail server never holds a request.
While the broker (Redis) is down, the message is sent from the request's own process instead
(``core.background``), so it is not lost.

A message is written in its recipient's language (``User.language``), not the sender's: a message
to several people goes out once per language (``send_templated_to_users``).
"""

from collections import defaultdict

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from .background import enqueue_after_commit
from .languages import language_for_recipient


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


def send_templated_after_commit(
    template_prefix: str, *, to: list[str], context: dict, language: str | None = None
) -> None:
    """Renders ``<prefix>_subject.txt``, ``<prefix>_message.txt`` and ``<prefix>_message.html`` in
    ``language`` (the active one when None)."""
    with translation.override(language or translation.get_language()):
        subject = " ".join(render_to_string(f"{template_prefix}_subject.txt", context).split())
        text = render_to_string(f"{template_prefix}_message.txt", context).strip()
        html = render_to_string(f"{template_prefix}_message.html", context).strip()
    message = EmailMultiAlternatives(f"[Nexevo] {subject}", text, settings.DEFAULT_FROM_EMAIL, to)
    message.attach_alternative(html, "text/html")
    send_after_commit(message)


def send_templated_to_users(template_prefix: str, *, users, context: dict) -> None:
    """One message per language among ``users``, each written in its recipients' saved choice
    (English for those who never chose: the sender's language says nothing about theirs)."""
    by_language: dict[str, list[str]] = defaultdict(list)
    for user in users:
        by_language[language_for_recipient(user)].append(user.email)
    for language, emails in sorted(by_language.items()):
        send_templated_after_commit(template_prefix, to=emails, context=context, language=language)
