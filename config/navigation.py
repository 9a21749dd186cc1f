"""The hub's pages in one list: who may open each, the menu every page shows, and the desk
each member starts from (``/`` and the end of signing in).

Who may open a page is asked of the same predicates the page's view uses to refuse
(``incidents.selectors.<family>.may_open_*``, ``streaming.selectors.may_open_*``,
``recordings.selectors.may_open_*``, the admin site's own
check, the access journal's permission): the menu never offers a page that would answer 403,
and never hides one that would open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from incidents.selectors.alerts import may_open_alerts
from incidents.selectors.incidents import may_open_console, may_open_portal
from incidents.selectors.units import may_open_tablet
from partners.models import Member
from partners.permissions import IsAuditor
from partners.selectors import member_of
from recordings.selectors import may_open_register, may_open_requisitions
from streaming.selectors import may_open_feeds, may_open_wall

MAIN = "main"
ACCOUNT = "account"


def _signed_in(request: HttpRequest, member: Member | None) -> bool:
    return request.user.is_authenticated


@dataclass(frozen=True)
class Page:
    """A page of the hub as the menu shows it."""

    key: str
    url_name: str
    label: Promise
    may_open: Callable[[HttpRequest, Member | None], bool]
    group: str = MAIN
    query: str = ""
    # A file, not a page: the link downloads it.
    download: bool = False

    @property
    def path(self) -> str:
        return reverse(self.url_name)

    @property
    def url(self) -> str:
        return self.path + self.query


PAGES: tuple[Page, ...] = (
    Page("console", "console", _("Console"), lambda request, member: may_open_console(member)),
    Page("tablet", "tablet", _("Tablet"), lambda request, member: may_open_tablet(member)),
    Page("portal", "portal-incidents", _("Shared incidents"),
         lambda request, member: may_open_portal(member)),
    Page("alerts", "portal-alerts", pgettext_lazy("menu", "Croix-Rouge alerts"),
         lambda request, member: may_open_alerts(member)),
    Page("feeds", "video-feeds", _("Video feeds"), lambda request, member: may_open_feeds(member)),
    Page("wall", "video-wall", _("Video wall"), lambda request, member: may_open_wall(member)),
    Page("requisitions", "requisitions", _("Requisitions"),
         lambda request, member: may_open_requisitions(member)),
    Page("register", "recording-register-page", _("Register"),
         lambda request, member: may_open_register(member)),
    Page("audit", "audit-list", _("Access journal (CSV)"),
         lambda request, member: IsAuditor().has_permission(request, None),
         query="?export=csv", download=True),
    Page("admin", "admin:index", _("Administration"),
         lambda request, member: admin.site.has_permission(request)),
    Page("sessions", "account-sessions", _("My sessions"), _signed_in, group=ACCOUNT),
    Page("security", "account-security", _("Two-factor authentication"), _signed_in, group=ACCOUNT),
)

# Where each role starts, first match wins: the centre's console, a field unit's tablet
# (a Croix-Rouge team too), the Croix-Rouge's desk, the partners' portal, the auditors'
# register; then whatever the member may open (the admin for a bare administrator account).
DESK_ORDER = ("console", "tablet", "alerts", "portal", "register", "admin", "sessions")


def pages_for(request: HttpRequest, member: Member | None = None) -> list[Page]:
    """The pages this request's user may open, in menu order (none when signed out).
    ``member``: the user's member profile when the caller has it already."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    if member is None:
        member = member_of(user)
    return [page for page in PAGES if page.may_open(request, member)]


def desk_url(request: HttpRequest) -> str:
    """Where this signed-in user starts: the first page of ``DESK_ORDER`` they may open."""
    allowed = {page.key: page for page in pages_for(request)}
    for key in DESK_ORDER:
        if key in allowed:
            return allowed[key].url
    return reverse("account-sessions")


def menu(request: HttpRequest) -> dict:
    """Context processor: the menu of every page, the current page marked."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    member = member_of(user)
    entries = [{"key": page.key, "url": page.url, "label": page.label, "group": page.group,
                "download": page.download, "current": not page.download and request.path == page.path}
               for page in pages_for(request, member)]
    return {
        "menu_main": [entry for entry in entries if entry["group"] == MAIN],
        "menu_account": [entry for entry in entries if entry["group"] == ACCOUNT],
        "menu_member": member,
    }
