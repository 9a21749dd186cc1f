"""Links of the partner portal's menu that other apps contribute (partners imports none of them)."""

from django.conf import settings
from django.http import HttpRequest

from partners.selectors import member_of


def portal(request: HttpRequest) -> dict:
    """The links this member's agency may follow (the page itself checks the rights again)."""
    member = member_of(getattr(request, "user", None))
    if member is None:
        return {"portal_links": []}
    kind = member.agency.kind
    return {"portal_links": [link for link in settings.HUB_PORTAL_LINKS
                             if "kinds" not in link or kind in link["kinds"]]}
