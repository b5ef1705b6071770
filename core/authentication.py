from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication


def second_factor_pending(user) -> bool:
    """Signed in with a password, but two-factor is on and no code has been entered yet."""
    if not user.is_authenticated or not user.two_factor_enabled:
        return False
    # django-otp's middleware adds is_verified(); a user signed in during this very request has not
    # been through it, and has not entered a code either.
    is_verified = getattr(user, "is_verified", None)
    return not (is_verified and is_verified())


class VerifiedSessionAuthentication(SessionAuthentication):
    """The dashboard's session, accepted by the API only once the second factor has passed.

    A user with two-factor enabled who has entered a password but no code yet is anonymous here,
    exactly as on the dashboard's pages.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, auth = result
        if second_factor_pending(user):
            return None
        return user, auth

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as error:
            raise exceptions.PermissionDenied(str(error.detail), code="csrf_failed") from None
