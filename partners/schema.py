"""How the OpenAPI schema (drf-spectacular) describes our authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <token>``, from ``POST /api/auth/token/``."""

    target_class = "partners.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer",
                "description": "A token from POST /api/auth/token/."}
