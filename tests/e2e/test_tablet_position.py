"""The tablet sends its position on its event socket when it is open (acknowledged there, no
HTTP request), and shows a refusal in French."""

from __future__ import annotations

import pytest

from incidents.models import Unit, UnitPosition
from partners.choices import AgencyKind
from tests import factories
from tests.e2e.conftest import live
from tests.factories import CENTRE

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 10_000


def test_the_tablet_sends_its_position_on_the_socket_and_shows_a_refusal(hub, signed_in, csp_watch):
    factories.make_commune()
    unit = factories.make_unit(agency=factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency"),
                               callsign="TV 12")
    context = signed_in(unit.member.user)
    context.grant_permissions(["geolocation"], origin=hub.url)
    context.set_geolocation({"latitude": CENTRE.y, "longitude": CENTRE.x, "accuracy": 12})
    csp_watch(context)
    page = context.new_page()
    posts: list[str] = []
    page.on("request",
            lambda r: posts.append(r.url) if r.method == "POST" and "/position/" in r.url else None)

    live(page, "/terrain/")
    page.locator("#position-state", has_text="Position transmise.").wait_for(timeout=LIVE)
    page.wait_for_function("() => document.getElementById('tablet').dataset.queued === '0'")
    moved = Unit.objects.get(pk=unit.pk)
    assert moved.position is not None and moved.position.distance(CENTRE) < 1e-6
    assert UnitPosition.objects.get(unit=unit).accuracy_m == 12
    assert posts == [], "sent on the socket, not by HTTP"

    # Outside the service area: refused, in French, on the page.
    context.set_geolocation({"latitude": 48.85, "longitude": 2.35, "accuracy": 12})
    page = live(page, "/terrain/")
    page.locator("#position-state", has_text="Refusé : Ce lieu est hors de la zone couverte par le centre."
                 ).wait_for(timeout=LIVE)
    assert UnitPosition.objects.filter(unit=unit).count() == 1
    assert posts == []
    assert csp_watch.violations(page) == []
