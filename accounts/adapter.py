from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site
from django.utils import translation

from core.email import send_after_commit
from core.languages import language_for_recipient


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Renders allauth's e-mails here and sends them from a task after the commit, in the
        language the account chose (a password reset asked for from an English page still reaches
        a Chinese reader in Chinese), else the language of the page that sent it."""
        from .models import User

        request = allauth_context.request
        full_context = {"request": request, "email": email, "current_site": get_current_site(request)}
        full_context.update(context)
        account = context.get("user") or User.objects.filter(email__iexact=email).only("language").first()
        language = language_for_recipient(account, fallback=translation.get_language())
        with translation.override(language):
            message = self.render_mail(template_prefix, email, full_context)
        send_after_commit(message)
