"""The Celery application. Workers start with ``celery -A nexevo_site worker``, the scheduler with
``celery -A nexevo_site beat`` (both from the Procfile that ``bin/stack`` runs)."""

import logging
import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexevo_site.settings")

logger = logging.getLogger(__name__)

app = Celery("nexevo_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes the worker's heartbeat (``core.health``) every few seconds while its consumer is
    connected to the broker: the consumer's steps start on (re)connection and stop when it is lost,
    so ``/healthz`` sees a worker that listens, not merely one that runs."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_entry = None

    def start(self, consumer):
        from django.conf import settings

        self._beat()
        self.timer_entry = consumer.timer.call_repeatedly(
            settings.NEXEVO_WORKER_HEARTBEAT_SECONDS, self._beat, priority=10
        )

    def stop(self, consumer):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop

    @staticmethod
    def _beat():
        from core.health import worker_heartbeat_record

        try:
            worker_heartbeat_record()
        except Exception:  # noqa: BLE001 - Redis down: the consumer reconnects, and beats again then
            logger.warning("Could not record the worker heartbeat.", exc_info=True)


app.steps["consumer"].add(WorkerHeartbeat)
