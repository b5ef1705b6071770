import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gateway.services import InvalidProviderFile, providers_load


class Command(BaseCommand):
    help = (
        "Creates or updates providers, models and the fast/balanced pools from a JSON file (see the README); "
        "gateway/catalog/catalog.json is the catalog the console ships."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        try:
            counts = providers_load(data)
        except InvalidProviderFile as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{counts['providers']} provider(s), {counts['models']} model(s), "
            f"{counts['pool_candidates']} pool candidate(s) loaded."
        )
        if counts["without_key"]:
            self.stdout.write(
                f"Switched off for want of an API key: {', '.join(counts['without_key'])} "
                "(set the variable its api_key_env names, or the key in admin, and switch it on)."
            )
