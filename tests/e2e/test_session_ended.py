"""A session ended while a page is open (signed out elsewhere, ended from « Mes sessions »): the hub
closes its socket with 4401, and the console, the partners' portal and the tablet say, in French,
that the session has ended, link to the sign-in page (which brings the user back), and stop
reconnecting: a socket refused for its credential would only be refused again."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.conf import settings

from partners.auth import session_end
from partners.choices import AgencyKind
from tests import factories

pytestmark = pytest.mark.usefixtures("transactional_db")

START = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)


def screenshot(page, name: str) -> None:
    """E2E_SCREENSHOTS=/tmp: keep a picture of the screen, to look at it."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name))


def member_for(screen: str):
    factories.make_commune()
    if screen == "console":
        return factories.make_member(role="operator")
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    if screen == "portal":
        return factories.make_member(role="partner_agent", agency=pn)
    return factories.make_unit(agency=pn, callsign="TV 12").member


PATHS = {"console": "/console/", "portal": "/portail/incidents/", "tablet": "/terrain/"}
VIEWPORTS = {"console": (1920, 1080), "portal": (1920, 1080), "tablet": (1280, 800)}


@pytest.mark.parametrize("screen", ["console", "portal", "tablet"])
def test_a_page_whose_session_ended_says_so_and_stops_reconnecting(hub, signed_in, csp_watch, screen):
    member = member_for(screen)
    context = signed_in(member.user)
    csp_watch(context)
    page = context.new_page()
    width, height = VIEWPORTS[screen]
    page.set_viewport_size({"width": width, "height": height})
    # The page's timers run on a clock the test moves: the backoff's retries happen on cue.
    page.clock.install(time=START)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(PATHS[screen])
    badge = page.locator("#connection")
    page.wait_for_function("() => document.getElementById('connection').dataset.state === 'open'")
    assert len(sockets) == 1

    [cookie] = [c for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
    session_end(user=member.user, session_key=cookie["value"])

    page.wait_for_function("() => document.getElementById('connection').dataset.state === 'ended'")
    assert badge.inner_text() == "Session terminée — se reconnecter"
    link = badge.get_by_role("link", name="se reconnecter")
    assert link.get_attribute("href") == f"/accounts/login/?next={PATHS[screen].replace('/', '%2F')}"

    # Ten minutes of the page's time: the backoff would have tried again a dozen times.
    page.clock.run_for(600_000)
    assert badge.get_attribute("data-state") == "ended"
    assert len(sockets) == 1, sockets
    if screen == "console":  # the map's refresh of its cameras says it the same way, not "error 401"
        notice = page.locator("#map-notice").inner_text()
        assert notice == "Session expirée : rechargez la page pour vous reconnecter."
        assert page.get_by_text("erreur 401", exact=False).count() == 0
    screenshot(page, f"session-ended-{screen}.png")

    link.click()
    page.wait_for_url(f"**/accounts/login/?next={PATHS[screen].replace('/', '%2F')}")
    assert page.get_by_label("Identifiant").is_visible()
