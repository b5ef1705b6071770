from django.utils.functional import SimpleLazyObject

from .selectors import active_membership, memberships_of_user


def organization_switcher(request):
    """The organization the page shows, and the others the user can switch to (lazily)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "active_membership": SimpleLazyObject(lambda: active_membership(request)),
        "switcher_memberships": SimpleLazyObject(lambda: list(memberships_of_user(user=request.user))),
    }
