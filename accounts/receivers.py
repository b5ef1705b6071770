from allauth.account.models import EmailAddress
from allauth.account.signals import email_changed, email_confirmed, user_signed_up
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


@receiver(user_signed_up, dispatch_uid="user_email_verified_at_sign_up")
def mark_email_verified_at_sign_up(sender, request, user, **kwargs):
    # An address proven before sign-up (an invitation link) is verified without a confirm e-mail,
    # and allauth sends no email_confirmed signal for it.
    verified = EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()
    if verified != user.email_verified:
        user.email_verified = verified
        user.save(update_fields=["email_verified"])
