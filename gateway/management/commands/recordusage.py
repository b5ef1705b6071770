import logging
import os
import signal
import socket
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from gateway import journal

logger = logging.getLogger(__name__)

# Seconds between looks for entries a stopped recorder left behind.
RECLAIM_EVERY = 30


class Command(BaseCommand):
    help = (
        "Writes the usage journal to the database as it fills (gateway.journal). Runs until stopped; "
        "bin/stack runs one beside the web server when NEXEVO_USAGE_JOURNAL is on."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="write what is there now, then stop")
        parser.add_argument(
            "--retry-unwritten",
            action="store_true",
            help="put the entries set aside as unwritable back in the journal, then stop",
        )

    def handle(self, *args, once=False, retry_unwritten=False, **options):
        if not journal.enabled():
            raise CommandError("The usage journal is off: set NEXEVO_USAGE_JOURNAL=1 and REDIS_URL.")
        if retry_unwritten:
            self.stdout.write(f"{journal.retry_unwritten()} entries put back in the journal.")
            return
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        if once:
            self.stdout.write(f"{journal.drain_all(consumer=consumer)} entries written.")
            return
        stopping = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.append(True))
        self.stdout.write(f"Recording the usage journal as {consumer}.")
        reclaimed_at, failed = 0.0, False
        while not stopping:
            try:
                if time.monotonic() - reclaimed_at > RECLAIM_EVERY:
                    journal.ensure_group()
                    journal.reclaim(consumer=consumer)
                    reclaimed_at = time.monotonic()
                if failed:  # what this recorder read and did not finish comes first
                    while journal.drain(consumer=consumer, own=True):
                        pass
                    failed = False
                written = journal.drain(consumer=consumer, block_ms=1000)
                if 0 < written < journal.BATCH:
                    # Let the next batch gather: one transaction for many requests costs the
                    # database (and this machine's cores, which the web server shares) far less.
                    time.sleep(journal.GATHER_SECONDS)
            except Exception:  # noqa: BLE001 - the stack's other processes stop if this one exits
                # Redis or the database unreachable: what was read stays in the journal.
                logger.exception("Recording the usage journal failed; trying again in a second.")
                connections.close_all()
                failed = True
                time.sleep(1)
        self.stdout.write("Stopped.")
