from .authentication import second_factor_pending

# Which entry of the navigation a page belongs to, by the start of its path: detail pages light up
# their list's entry (a key's page is under "API keys"). The first match wins, so a longer prefix
# comes before a shorter one that it starts with.
NAV_SECTIONS = (
    ("/dashboard/", "dashboard"),
    ("/cookbook/", "cookbook"),
    ("/keys/", "keys"),
    ("/billing/usage", "usage"),
    ("/billing/generations/", "requests"),
    ("/billing/", "billing"),
    ("/requests/", "requests"),
    ("/conversations/", "conversations"),
    ("/feedback/", "feedback"),
    ("/organizations/", "organization"),
    ("/settings/", "settings"),
    ("/accounts/email/", "settings"),
    ("/accounts/password/change/", "settings"),
)


def session_state(request):
    user = getattr(request, "user", None)
    return {"second_factor_pending": bool(user) and second_factor_pending(user)}


def navigation(request):
    section = next((name for prefix, name in NAV_SECTIONS if request.path.startswith(prefix)), "")
    return {"nav_section": section}
