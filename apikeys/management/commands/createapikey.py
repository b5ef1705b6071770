from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from core.errors import ServiceError
from orgs.selectors import personal_organization_of_user

from ...services import key_create


class Command(BaseCommand):
    help = "Creates an API key in a user's personal workspace and prints it (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True)

    def handle(self, *args, email, name, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {email}.")
        if not user.is_active:
            raise CommandError(f"{email} is deactivated.")
        organization = personal_organization_of_user(user=user)
        try:
            api_key, full_key = key_create(organization=organization, created_by=user, name=name)
        except ServiceError as error:
            raise CommandError(error.message) from None
        self.stderr.write(
            f"Created {api_key.id} “{api_key.name}” in {organization.name} "
            f"({organization.id}). Store the key now; it is not shown again."
        )
        self.stdout.write(full_key)
