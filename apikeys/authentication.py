from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .services import ExpiredApiKey, InvalidApiKey, key_authenticate

INVALID_KEY_MESSAGE = "Invalid API key."


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer nx_...``. The request acts as the key's creator, in its organization."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise AuthenticationFailed(INVALID_KEY_MESSAGE, code="invalid_api_key")
        try:
            raw_key = header[1].decode("ascii")
            api_key = key_authenticate(raw_key)
        except ExpiredApiKey:
            raise AuthenticationFailed(
                "This API key has expired. Create a new one.", code="key_expired"
            ) from None
        except (UnicodeDecodeError, InvalidApiKey):
            raise AuthenticationFailed(INVALID_KEY_MESSAGE, code="invalid_api_key") from None
        return api_key.created_by, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="nexevo"'
