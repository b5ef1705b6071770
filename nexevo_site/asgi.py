"""ASGI entry point: ``uvicorn nexevo_site.asgi:application``.

``POST /v1/chat/completions`` is served by gateway.asgi without Django's request cycle; every other
request goes to Django.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexevo_site.settings")

django_application = get_asgi_application()

from gateway.asgi import ChatCompletions  # noqa: E402 - needs Django set up first

application = ChatCompletions(django_application)
