"""Field units that exist: created, edited, handed to a member (the tablet), retired and
reinstated by the centre's supervisors, over the API and through the services; every refusal
says why and writes nothing; a retired unit keeps its history but takes part in nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from config.errors import NotAllowed
from incidents.models import Net, RadioMessage, Unit, UnitPosition
from incidents.services.incidents import incident_create
from incidents.services.radio import nets_ensure, radio_message_send
from incidents.services.units import unit_create, unit_engage, unit_position_report, unit_update
from partners.audit import Action
from partners.choices import AgencyKind
from partners.models import AuditRecord
from realtime.audiences import groups_of
from realtime.models import Event
from tests import factories
from tests.factories import CENTRE

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(area):
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    gn = factories.make_agency(kind=AgencyKind.GN, code="gn-test")
    crew = {
        "supervisor": factories.make_member(role="supervisor", username="superviseur"),
        "admin": factories.make_member(role="admin", username="administrateur"),
        "operator": factories.make_member(role="operator", username="operateur"),
        "pn_agent": factories.make_member(role="partner_agent", agency=pn, username="agent-pn"),
        "tv12": factories.make_member(role="field_unit", agency=pn, username="tablette-tv12"),
        "tv13": factories.make_member(role="field_unit", agency=pn, username="tablette-tv13"),
        "gn3": factories.make_member(role="field_unit", agency=gn, username="tablette-gn3"),
    }
    return {"pn": pn, "gn": gn, **crew}


def as_(member) -> factories.TokenClient:
    return factories.TokenClient().as_member(member)


def tablet_page(member) -> tuple[int, str]:
    browser = Client()
    browser.force_login(member.user)
    page = browser.get("/terrain/")
    return page.status_code, page.content.decode()


def written() -> tuple[int, ...]:
    """What a refused request must leave as it was."""
    return (Unit.objects.count(), Net.objects.count(), Event.objects.count(), AuditRecord.objects.count(),
            *Unit.objects.filter(member__isnull=False).values_list("member_id", flat=True))


def last_event(type_: str = "unit.updated") -> Event:
    return Event.objects.filter(type=type_).latest("id")


def test_a_supervisor_creates_a_unit_with_its_tablet_and_the_member_gets_it(scene):
    assert tablet_page(scene["tv12"])[0] == 403  # no unit yet: no tablet
    answer = as_(scene["supervisor"]).post("/api/units/", {
        "callsign": "  tv   12 ", "agency": "pn-test", "member": "tablette-tv12"})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["callsign"], body["agency"], body["member"], body["status"], body["retired_at"]) == (
        "TV 12", "pn-test", "tablette-tv12", "available", None)
    unit = Unit.objects.get(pk=body["id"])
    assert Net.objects.filter(unit=unit, kind="direct", name="Ligne directe TV 12").exists()

    event = last_event()
    assert event.data == {"unit": body, "changes": ["created", "member"]}
    assert event.audience == ["agency.pn-test", "csu"]
    handed = AuditRecord.objects.get(action=Action.RIGHTS_CHANGED, object_type="incidents.unit")
    assert handed.actor_username == "superviseur"
    assert handed.details["member"] == "tablette-tv12" and handed.details["unit"] == "TV 12"

    status, html = tablet_page(scene["tv12"])
    assert status == 200 and "TV 12" in html
    assert f"unit.{unit.pk}" in groups_of(scene["tv12"].user, scene["tv12"])
    assert [u["callsign"] for u in as_(scene["pn_agent"]).get("/api/units/").json()] == ["TV 12"]
    assert as_(scene["gn3"]).get("/api/units/").json() == []  # another agency's unit

    # An administrator may too; a unit may start without a tablet.
    later = as_(scene["admin"]).post("/api/units/", {"callsign": "TV 14", "agency": "pn-test"})
    assert later.status_code == 201 and later.json()["member"] is None


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"callsign": "TV 12", "agency": "gn-test"}, 409, "callsign_taken", "callsign"),
    ({"callsign": "tv 12", "agency": "pn-test"}, 409, "callsign_taken", "callsign"),
    ({"callsign": "   ", "agency": "pn-test"}, 400, "invalid", "callsign"),
    ({"callsign": "X" * 41, "agency": "pn-test"}, 400, "invalid", "callsign"),
    ({"callsign": "CSU 1", "agency": "csu"}, 400, "invalid", "agency"),
    ({"callsign": "TV 20", "agency": "pn-nowhere"}, 400, "unknown_agency", "agency"),
    ({"callsign": "TV 20", "agency": "pn-test", "member": "nobody"}, 400, "invalid", "member"),
    ({"callsign": "TV 20", "agency": "pn-test", "member": "agent-pn"}, 400, "not_a_field_unit", "member"),
    ({"callsign": "TV 20", "agency": "pn-test", "member": "tablette-gn3"}, 400, "member_of_another_agency",
     "member"),
    ({"callsign": "TV 20", "agency": "pn-test", "member": "tablette-tv12"}, 409, "member_has_a_unit",
     "member"),
])
def test_a_refused_creation_says_why_and_writes_nothing(scene, body, status, code, field):
    factories.make_unit(agency=scene["pn"], callsign="TV 12", member=scene["tv12"])
    before = written()
    answer = as_(scene["supervisor"]).post("/api/units/", body)
    assert (answer.status_code, answer.json()["error"]) == (status, code), answer.content
    assert field in answer.json()["detail"], answer.json()
    assert written() == before


def test_the_refusals_are_said_in_french(scene):
    factories.make_unit(agency=scene["pn"], callsign="TV 12", member=scene["tv12"])
    client = as_(scene["supervisor"])
    taken = client.post("/api/units/", {"callsign": "TV 12", "agency": "gn-test"}).json()["detail"]
    assert taken == {"callsign": ["L'indicatif TV 12 est déjà pris par une unité de : Agency pn-test."]}
    other = client.post("/api/units/", {"callsign": "GN 4", "agency": "gn-test", "member": "tablette-tv12"})
    assert other.json()["detail"]["member"] == [
        "tablette-tv12 appartient à : Agency pn-test, et non à : Agency gn-test."]
    busy = client.post("/api/units/", {"callsign": "TV 13", "agency": "pn-test", "member": "tablette-tv12"})
    assert busy.json()["detail"]["member"] == [
        "tablette-tv12 a déjà la tablette de TV 12 : reprenez-la-lui d'abord."]
    refused = as_(scene["operator"]).post("/api/units/", {"callsign": "TV 20", "agency": "pn-test"})
    assert refused.json()["detail"] == (
        "Seuls les superviseurs et administrateurs du centre gèrent les unités de terrain.")


@pytest.mark.parametrize("who", ["operator", "pn_agent", "tv12", "gn3"])
def test_only_the_centres_supervisors_and_administrators_manage_units(scene, who):
    unit = factories.make_unit(agency=scene["pn"], callsign="TV 12", member=False)
    before = written()
    client = as_(scene[who])
    assert client.post("/api/units/", {"callsign": "TV 20", "agency": "pn-test"}).status_code == 403
    assert client.patch(f"/api/units/{unit.pk}/", {"member": "tablette-tv12"}).status_code == 403
    assert client.patch("/api/units/999999/", {"retired": True}).status_code == 403  # before the id
    with pytest.raises(NotAllowed):
        unit_update(by=scene[who], unit=unit, retired=True)
    with pytest.raises(NotAllowed):
        unit_create(by=scene[who], callsign="TV 21", agency=scene["pn"])
    assert written() == before


def test_rename_hand_over_take_back_and_move(scene):
    unit = factories.make_unit(agency=scene["pn"], callsign="TV 12", member=scene["tv12"])
    client = as_(scene["supervisor"])
    url = f"/api/units/{unit.pk}/"

    renamed = client.patch(url, {"callsign": "tv 15"})
    assert renamed.status_code == 200 and renamed.json()["callsign"] == "TV 15"
    assert Net.objects.get(unit=unit).name == "Ligne directe TV 15"
    assert last_event().data["changes"] == ["callsign"]
    assert "TV 15" in tablet_page(scene["tv12"])[1]

    handed = client.patch(url, {"member": "tablette-tv13"})
    assert handed.status_code == 200 and handed.json()["member"] == "tablette-tv13"
    assert last_event().data["changes"] == ["member"]
    assert tablet_page(scene["tv12"])[0] == 403 and tablet_page(scene["tv13"])[0] == 200
    assert f"unit.{unit.pk}" not in groups_of(scene["tv12"].user, scene["tv12"])
    assert AuditRecord.objects.filter(action=Action.RIGHTS_CHANGED,
                                      details__previous_member="tablette-tv12").exists()

    # Its driver is a PN member: the unit cannot move to the GN with it...
    before = written()
    moved = client.patch(url, {"agency": "gn-test"})
    assert (moved.status_code, moved.json()["error"]) == (400, "member_of_another_agency")
    assert written() == before
    # ... but it can with the tablet taken back, or given to a GN member in the same request.
    moved = client.patch(url, {"agency": "gn-test", "member": "tablette-gn3"})
    assert moved.status_code == 200, moved.content
    assert (moved.json()["agency"], moved.json()["member"]) == ("gn-test", "tablette-gn3")
    event = last_event()
    assert event.data["changes"] == ["agency", "member"]
    assert event.audience == ["agency.gn-test", "agency.pn-test", "csu"]  # the PN's screens drop it
    assert as_(scene["pn_agent"]).get("/api/units/").json() == []

    taken_back = client.patch(url, {"member": None})
    assert taken_back.status_code == 200 and taken_back.json()["member"] is None
    assert tablet_page(scene["gn3"])[0] == 403
    assert client.patch(url, {"member": None}).status_code == 200  # again: nothing to do
    assert Event.objects.filter(type="unit.updated").count() == 5


def test_a_retired_unit_keeps_its_history_but_takes_part_in_nothing(scene):
    nets_ensure()
    unit = factories.make_unit(agency=scene["pn"], callsign="TV 12", member=scene["tv12"])
    operator = scene["operator"]
    message = radio_message_send(member=operator, to_unit=unit, text="Rappelez le CSU")
    unit_position_report(member=unit.member, unit=unit, point=CENTRE)
    incident = incident_create(member=operator, nature="rixe", location=CENTRE, description="Rixe")

    client = as_(scene["supervisor"])
    retired = client.patch(f"/api/units/{unit.pk}/", {"retired": True})
    assert retired.status_code == 200, retired.content
    assert retired.json()["retired_at"] is not None and retired.json()["member"] is None
    assert last_event().data["changes"] == ["member", "retired"]

    # Gone from the lists and from its member's hands...
    assert as_(operator).get("/api/units/").json() == []
    assert as_(scene["pn_agent"]).get("/api/units/").json() == []
    assert [u["callsign"] for u in as_(operator).get("/api/units/?retired=1").json()] == ["TV 12"]
    assert as_(scene["pn_agent"]).get("/api/units/?retired=1").json() == []
    assert tablet_page(scene["tv12"])[0] == 403
    assert "direct" not in {n["kind"] for n in as_(operator).get("/api/radio/nets/").json()}
    # ... its history kept...
    assert RadioMessage.objects.filter(to_unit=unit).count() == 1
    assert UnitPosition.objects.filter(unit=unit).count() == 1
    assert message.pk in [m["id"] for m in as_(operator).get("/api/radio/messages/").json()]
    # ... and it can be neither engaged, nor called, nor given a tablet.
    before = written()
    engaged = as_(operator).post(f"/api/units/{unit.pk}/engage/", {"incident": incident.pk})
    assert (engaged.status_code, engaged.json()["error"]) == (409, "unit_retired")
    called = as_(operator).post("/api/radio/messages/", {"to_unit": unit.pk, "text": "Répondez"})
    assert (called.status_code, called.json()["error"]) == (409, "unit_retired")
    on_its_line = as_(operator).post("/api/radio/messages/", {"net": unit.direct_net.pk, "text": "Répondez"})
    assert (on_its_line.status_code, on_its_line.json()["error"]) == (409, "unit_retired")
    handed = client.patch(f"/api/units/{unit.pk}/", {"member": "tablette-tv12"})
    assert (handed.status_code, handed.json()["error"]) == (409, "unit_retired")
    status = as_(operator).post(f"/api/units/{unit.pk}/status/", {"status": "en_route"})
    assert status.status_code == 404  # not among the units in service
    assert written() == before
    # The agency's net no longer asks it for an acknowledgement.
    on_agency = radio_message_send(member=operator, net=Net.objects.get(agency=scene["pn"]), text="À tous")
    assert on_agency.receipts.count() == 0

    reinstated = client.patch(f"/api/units/{unit.pk}/", {"retired": False, "member": "tablette-tv12"})
    assert reinstated.status_code == 200, reinstated.content
    assert last_event().data["changes"] == ["member", "reinstated"]
    assert reinstated.json()["retired_at"] is None and tablet_page(scene["tv12"])[0] == 200
    assert as_(operator).post(f"/api/units/{unit.pk}/engage/", {"incident": incident.pk}).status_code == 200


def test_an_engaged_unit_neither_retires_nor_changes_agency(scene):
    unit = factories.make_unit(agency=scene["pn"], callsign="TV 12", member=scene["tv12"])
    operator = scene["operator"]
    incident = incident_create(member=operator, nature="rixe", location=CENTRE, description="Rixe")
    unit_engage(unit=unit, incident=incident, member=operator)
    before = written()
    client = as_(scene["supervisor"])
    for body, field in (({"retired": True}, "retired"), ({"agency": "gn-test", "member": None}, "agency")):
        answer = client.patch(f"/api/units/{unit.pk}/", body)
        assert (answer.status_code, answer.json()["error"]) == (409, "unit_busy")
        assert field in answer.json()["detail"]
    assert written() == before
    assert as_(operator).post(f"/api/units/{unit.pk}/status/", {"status": "available"}).status_code == 200
    assert client.patch(f"/api/units/{unit.pk}/", {"retired": True}).status_code == 200


def test_a_retired_croix_rouge_team_cannot_take_charge_of_an_alert(scene):
    from incidents.services.alerts import alert_raise

    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    desk = factories.make_member(role="partner_agent", agency=crf)
    team = factories.make_unit(agency=crf, callsign="CRF MARAUDE 1")
    alert = alert_raise(member=scene["operator"], location=CENTRE, description="Personne au sol")
    unit_update(by=scene["supervisor"], unit=team, retired=True)
    answer = as_(desk).post(f"/api/alerts/{alert.pk}/take-charge/", {"unit": team.pk})
    assert (answer.status_code, answer.json()["error"]) == (409, "unit_retired")
    alert.refresh_from_db()
    assert alert.status == "raised" and alert.unit is None
