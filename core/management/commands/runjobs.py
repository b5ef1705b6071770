from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from nexevo_site.celery import app as celery_app


class Command(BaseCommand):
    help = (
        "Runs every scheduled job (CELERY_BEAT_SCHEDULE, what beat runs in the full stack) once, in this "
        "process. For the embedded set-up (no Redis, no beat): call it from cron. Every job is "
        "idempotent, so running it more often than scheduled is harmless. One job failing does not stop "
        "the others; the command then exits with status 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="Only these schedule entries (default: all).")

    def handle(self, *args, names, **options):
        schedule = settings.CELERY_BEAT_SCHEDULE
        unknown = set(names) - set(schedule)
        if unknown:
            raise CommandError(f"No scheduled job named {', '.join(sorted(unknown))}.")
        # What a worker does as it starts: import every app's tasks module (autodiscovery).
        celery_app.loader.import_default_modules()
        failed = []
        for name, entry in schedule.items():
            if names and name not in names:
                continue
            task = celery_app.tasks.get(entry["task"])
            if task is None:
                self.stderr.write(f"{name}: no task {entry['task']} is installed")
                failed.append(name)
                continue
            result = task.apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), throw=False)
            if result.failed():
                self.stderr.write(f"{name}: failed\n{result.traceback}")
                failed.append(name)
            else:
                self.stdout.write(f"{name}: {result.result}")
        if failed:
            raise CommandError(f"Failed: {', '.join(failed)}.")
