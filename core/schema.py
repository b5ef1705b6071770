"""How the OpenAPI schema describes the project's authentication classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "nx_ + 32 base62 characters + 6-character checksum",
        }


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "core.authentication.VerifiedSessionAuthentication"
    name = "DashboardSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
