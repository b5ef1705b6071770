from allauth.account.signals import user_signed_up
from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .audit import client_ip
from .selectors import ACTIVE_ORGANIZATION_SESSION_KEY, PENDING_INVITATION_SESSION_KEY
from .services import InvitationProblem, invitation_accept, personal_organization_create


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="personal_organization")
def give_new_user_a_personal_organization(sender, instance, created, raw=False, **kwargs):
    # A signal, not a service call, because users are created in several places that are not ours
    # (allauth's sign-up, createsuperuser, Django admin's add form) and each must get one.
    if created and not raw:
        personal_organization_create(user=instance)


@receiver(user_signed_up, dispatch_uid="accept_invitation_on_sign_up")
def accept_the_invitation_signed_up_through(sender, request, user, **kwargs):
    """Someone who signed up through an invitation link lands in that organization."""
    token = request.session.pop(PENDING_INVITATION_SESSION_KEY, None) if request else None
    if not token:
        return
    try:
        membership = invitation_accept(token=token, user=user, ip=client_ip(request))
    except InvitationProblem:
        return  # the invitation page explains why when they open it
    request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = membership.organization_id
