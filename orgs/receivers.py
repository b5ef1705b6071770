from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .services import personal_organization_create


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="personal_organization")
def give_new_user_a_personal_organization(sender, instance, created, raw=False, **kwargs):
    # A signal, not a service call, because users are created in several places that are not ours
    # (allauth's sign-up, createsuperuser, Django admin's add form) and each must get one.
    if created and not raw:
        personal_organization_create(user=instance)
