from rest_framework.authentication import SessionAuthentication


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
        if user.two_factor_enabled and not user.is_verified():
            return None
        return user, auth
