"""The Celery application. Workers start with ``celery -A nexevo_site worker``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexevo_site.settings")

app = Celery("nexevo_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
