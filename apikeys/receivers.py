"""Forgetting cached keys whenever what they carry changes, wherever the change is saved
(services, Django admin, a shell). Bulk ``update()`` calls forget explicitly (apikeys.services)."""

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from orgs.models import Membership, Organization

from . import auth_cache
from .models import ApiKey


@receiver(post_save, sender=ApiKey, dispatch_uid="forget_cached_key")
@receiver(post_delete, sender=ApiKey, dispatch_uid="forget_deleted_key")
def forget_key(sender, instance, created=False, **kwargs):
    if not created:  # a new key has nothing cached to forget
        auth_cache.forget([instance.key_hash])


@receiver(post_save, sender=Membership, dispatch_uid="forget_keys_on_role_change")
@receiver(post_delete, sender=Membership, dispatch_uid="forget_keys_on_removal")
def forget_members_keys(sender, instance, **kwargs):
    auth_cache.forget_keys_created_by(instance.user_id, instance.organization_id)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="forget_keys_on_user_change")
def forget_users_keys(sender, instance, created, **kwargs):
    if not created:
        auth_cache.forget_keys_created_by(instance.pk)


@receiver(post_save, sender=Organization, dispatch_uid="forget_keys_on_organization_change")
def forget_organizations_keys(sender, instance, created, **kwargs):
    if not created:
        auth_cache.forget_keys_of_organization(instance.pk)
