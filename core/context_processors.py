from .authentication import second_factor_pending


def session_state(request):
    user = getattr(request, "user", None)
    return {"second_factor_pending": bool(user) and second_factor_pending(user)}
