"""Links of the partner portal's menu that other apps contribute (partners imports none of them)."""

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict:
    return {"portal_links": settings.HUB_PORTAL_LINKS}
