"""The services decide the rights themselves, whoever calls them (a view, a task, a socket, the
demo): a member the action is not for is refused with a French 403 and nothing is written."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from config.errors import NotAllowed
from incidents.models import Alert, Incident, JournalEntry, UnitPosition
from incidents.services.alerts import alert_raise
from incidents.services.incidents import (
    incident_attach_camera,
    incident_create,
    incident_share,
    incident_transition,
    incident_unshare,
    incident_update,
)
from incidents.services.journal import journal_append, journal_camera_note
from incidents.services.units import unit_engage, unit_position_report, unit_status_set
from partners.choices import AgencyKind
from realtime.models import Event
from tests import factories
from tests.factories import CENTRE

pytestmark = pytest.mark.django_db

RESERVED = "Réservé aux opérateurs et superviseurs du centre."
UNIT_ITSELF = "Seule l'unité elle-même (ou le centre) peut le signaler."


@pytest.fixture
def scene(area, operator):
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    factories.make_agency(kind=AgencyKind.GN, code="gn-test")
    factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    incident = incident_create(member=operator, nature="rixe", location=CENTRE, description="Rixe")
    incident = incident_share(incident=incident, agency_code="pn-test", member=operator)
    return {"pn_agent": factories.make_member(role="partner_agent", agency=pn),
            "gn_agent": factories.make_member(role="partner_agent",
                                              agency=factories.make_agency(kind=AgencyKind.GN)),
            "incident": incident, "unit": factories.make_unit(agency=pn, callsign="TV 12"),
            "other_unit": factories.make_unit(agency=pn, callsign="TV 13"),
            "camera": factories.make_camera()}


def written() -> tuple[int, ...]:
    return (Event.objects.count(), Incident.objects.count(), JournalEntry.objects.count(),
            UnitPosition.objects.count(), Alert.objects.count())


ACTIONS: dict[str, tuple[Callable[[dict, object], object], str]] = {
    "open an incident": (lambda s, m: incident_create(member=m, nature="rixe", location=CENTRE,
                                                      description="Rixe"),
                         "Seuls les opérateurs du centre ouvrent des incidents."),
    "change it": (lambda s, m: incident_update(incident=s["incident"], member=m,
                                               version=s["incident"].version, priority=1),
                  "Seuls les opérateurs du centre modifient les incidents."),
    "close it": (lambda s, m: incident_transition(incident=s["incident"], member=m, status="closed"),
                 RESERVED),
    "share it": (lambda s, m: incident_share(incident=s["incident"], member=m, agency_code="gn-test"),
                 RESERVED),
    "unshare it": (lambda s, m: incident_unshare(incident=s["incident"], member=m, agency_code="pn-test"),
                   RESERVED),
    "attach a camera": (lambda s, m: incident_attach_camera(incident=s["incident"], member=m,
                                                            camera=s["camera"]), RESERVED),
    "note a camera line": (lambda s, m: journal_camera_note(incident=s["incident"], member=m,
                                                            text="Capture"), RESERVED),
    "engage a unit": (lambda s, m: unit_engage(unit=s["unit"], incident=s["incident"], member=m), RESERVED),
    "raise an alert": (lambda s, m: alert_raise(member=m, location=CENTRE, description="Personne au sol"),
                       "Seuls les opérateurs du centre lancent des alertes."),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_what_is_the_centres_is_refused_to_a_partner(scene, action):
    act, detail = ACTIONS[action]
    before = written()
    with pytest.raises(NotAllowed) as refused:
        act(scene, scene["pn_agent"])
    assert refused.value.status_code == 403
    assert str(refused.value.detail) == detail
    assert written() == before


def test_a_note_is_refused_to_a_member_whose_service_does_not_see_the_incident(scene):
    before = written()
    with pytest.raises(NotAllowed) as refused:
        journal_append(incident=scene["incident"], member=scene["gn_agent"], text="Vu")
    assert str(refused.value.detail) == "Cet incident n'est pas partagé avec votre service."
    assert written() == before
    journal_append(incident=scene["incident"], member=scene["pn_agent"], text="Patrouille sur place")
    assert JournalEntry.objects.filter(text="Patrouille sur place").exists()


def test_a_unit_reports_for_itself_only(scene):
    unit, other = scene["unit"], scene["other_unit"]
    before = written()
    for who in (other.member, scene["pn_agent"]):
        with pytest.raises(NotAllowed) as refused:
            unit_status_set(unit=unit, status="on_scene", member=who)
        assert str(refused.value.detail) == UNIT_ITSELF
        with pytest.raises(NotAllowed):
            unit_position_report(member=who, unit=unit, point=CENTRE)
    assert written() == before
    assert unit_status_set(unit=unit, status="unavailable", member=unit.member).status == "unavailable"
    assert unit_position_report(member=unit.member, unit=unit, point=CENTRE).unit_id == unit.pk
