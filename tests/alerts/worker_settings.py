"""Settings for the Celery worker process that tests in tests/alerts start: the test settings, tasks
sent through Redis, and loopback reachable (the test receivers live there). The rest (database,
Redis, CA bundle, retry schedule) comes from the environment the test passes."""

from nexevo_site.settings_test import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
ALERT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
