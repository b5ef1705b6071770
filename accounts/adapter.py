from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site

from core.email import send_after_commit


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Renders allauth's e-mails here and sends them from a task after the commit."""
        request = allauth_context.request
        full_context = {"request": request, "email": email, "current_site": get_current_site(request)}
        full_context.update(context)
        send_after_commit(self.render_mail(template_prefix, email, full_context))
