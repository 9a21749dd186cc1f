"""Security headers: a Content-Security-Policy that the pages actually work under.

Every page of the hub loads its scripts and styles from our own static files
(no CDN, no inline script), so the policy is strict. The Django admin alone
(supervisors, on the centre's network) keeps inline scripts, which GeoDjango's
map widget needs; it still loads nothing from outside.
"""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Leaflet's default subdomains for a tile URL with "{s}" (static/js/map.js keeps them).
TILE_SUBDOMAINS = "abc"


def _tile_origin() -> str:
    """The tile server's origin(s), and nothing else: the pages draw their tiles from there."""
    template = settings.HUB_MAP_TILE_URL
    if not template:
        return ""
    origins = []
    for subdomain in TILE_SUBDOMAINS if "{s}" in template else "-":
        url = urlparse(template.replace("{s}", subdomain))
        if url.scheme in {"http", "https"} and url.netloc:
            origins.append(f"{url.scheme}://{url.netloc}")
    return " ".join(origins)


def content_security_policy(request: HttpRequest) -> str:
    host = request.get_host()
    tiles = _tile_origin()
    admin = request.path.startswith("/admin/")
    # Swagger UI (the API docs) injects <style> elements; its scripts stay strict.
    inline_styles = admin or request.path.startswith("/api/docs/")
    directives = {
        "default-src": "'self'",
        "script-src": "'self' 'unsafe-inline'" if admin else "'self'",
        "style-src": "'self' 'unsafe-inline'" if inline_styles else "'self'",
        "img-src": f"'self' data: blob: {tiles}".strip(),
        "connect-src": f"'self' ws://{host} wss://{host}",
        "media-src": "'self' blob:",
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", content_security_policy(request))
        response.setdefault("Permissions-Policy", "geolocation=(self), camera=(), microphone=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response
