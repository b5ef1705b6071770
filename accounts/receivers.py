from allauth.account.signals import email_changed, email_confirmed
from django.dispatch import receiver


@receiver(email_confirmed, dispatch_uid="user_email_verified")
def mark_user_email_verified(sender, request, email_address, **kwargs):
    user = email_address.user
    if email_address.email.lower() == user.email.lower() and not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])


@receiver(email_changed, dispatch_uid="user_email_changed")
def follow_primary_email(sender, request, user, from_email_address, to_email_address, **kwargs):
    user.email_verified = to_email_address.verified
    user.save(update_fields=["email_verified"])
