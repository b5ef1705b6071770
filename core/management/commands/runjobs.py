from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Runs every scheduled job once, in this process. For the embedded set-up (no Redis, no beat): "
        "call it from cron. Every job is idempotent, so running it more often than scheduled is harmless."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="Only these schedule entries (default: all).")

    def handle(self, *args, names, **options):
        schedule = settings.CELERY_BEAT_SCHEDULE
        unknown = set(names) - set(schedule)
        if unknown:
            raise CommandError(f"No scheduled job named {', '.join(sorted(unknown))}.")
        for name, entry in schedule.items():
            if names and name not in names:
                continue
            result = current_app.tasks[entry["task"]].apply(throw=True)
            self.stdout.write(f"{name}: {result.result}")
