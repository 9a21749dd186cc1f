"""Field units: status, positions validated (area, speed), engagement journalled, and a tablet
replaying its offline queue of 200 writes: every effect exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from incidents.choices import IncidentStatus, JournalKind, UnitStatus
from incidents.models import RadioMessage, UnitPosition
from incidents.services.incidents import incident_create
from incidents.services.radio import nets_ensure
from incidents.services.units import ImplausiblePosition, unit_position_report
from partners.choices import AgencyKind
from realtime.models import Event
from tests import factories
from tests.factories import CENTRE, offset

pytestmark = pytest.mark.django_db

PARIS = {"type": "Point", "coordinates": [2.35, 48.85]}


def geo(point) -> dict:
    return {"type": "Point", "coordinates": [point.x, point.y]}


@pytest.fixture
def unit(area):
    return factories.make_unit(agency=factories.make_agency(kind=AgencyKind.PN, code="pn-test"),
                               callsign="TV 12")


def test_positions_out_of_the_area_or_too_fast_are_refused(unit, api):
    client = api.as_member(unit.member)
    t0 = timezone.now() - dt.timedelta(minutes=10)
    ok = client.post(f"/api/units/{unit.pk}/position/", {"location": geo(CENTRE), "at": t0.isoformat()})
    assert ok.status_code == 201
    far = client.post(f"/api/units/{unit.pk}/position/", {"location": PARIS})
    assert far.status_code == 400 and far.json()["error"] == "outside_service_area"
    # 900 m in 10 s is 324 km/h.
    jump = client.post(f"/api/units/{unit.pk}/position/", {
        "location": geo(offset(CENTRE, bearing=90, metres=900)),
        "at": (t0 + dt.timedelta(seconds=10)).isoformat()})
    assert jump.status_code == 400 and jump.json()["error"] == "implausible_position"
    future = client.post(f"/api/units/{unit.pk}/position/", {
        "location": geo(CENTRE), "at": (timezone.now() + dt.timedelta(hours=1)).isoformat()})
    assert future.status_code == 400 and "at" in future.json()["detail"]
    bad = client.post(f"/api/units/{unit.pk}/position/", {"location": {"type": "Point"}})
    assert bad.status_code == 400
    # 900 m in 60 s is 54 km/h: fine.
    fine = client.post(f"/api/units/{unit.pk}/position/", {
        "location": geo(offset(CENTRE, bearing=90, metres=900)),
        "at": (t0 + dt.timedelta(seconds=60)).isoformat()})
    assert fine.status_code == 201
    assert UnitPosition.objects.filter(unit=unit).count() == 2
    # Only the unit itself reports its position; another unit of the agency may not.
    other = factories.make_unit(agency=unit.agency, callsign="TV 13")
    answer = factories.TokenClient().as_member(other.member).post(
        f"/api/units/{unit.pk}/position/", {"location": geo(CENTRE)})
    assert answer.status_code == 403


def test_a_late_fix_joins_the_track_without_moving_the_unit_back(unit):
    now = timezone.now()
    unit_position_report(member=unit.member, unit=unit, point=CENTRE, at=now)
    start = Event.objects.order_by("-id").values_list("id", flat=True).first()
    late = offset(CENTRE, bearing=0, metres=100)
    unit_position_report(member=unit.member, unit=unit, point=late, at=now - dt.timedelta(minutes=1))
    unit.refresh_from_db()
    assert unit.position.equals_exact(CENTRE, 1e-9)
    assert not Event.objects.filter(id__gt=start).exists()
    with pytest.raises(ImplausiblePosition):  # checked against the fix after it too
        unit_position_report(member=unit.member, unit=unit, point=offset(CENTRE, bearing=180, metres=900),
                             at=now - dt.timedelta(seconds=10))


def test_status_and_engagement_are_live_and_journalled(unit, operator, api):
    incident = incident_create(member=operator, nature="rixe", location=CENTRE, description="Rixe")
    client = api.as_member(operator)
    answer = client.post(f"/api/units/{unit.pk}/engage/", {"incident": incident.pk})
    assert answer.status_code == 200 and answer.json()["status"] == "en_route"
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ENGAGED
    assert list(incident.shared_with.values_list("code", flat=True)) == ["pn-test"]  # so the unit sees it
    assert incident.journal.filter(kind=JournalKind.UNIT, text__contains="TV 12 engagée").exists()
    engaged = Event.objects.filter(type="unit.engaged").get()
    assert engaged.audience == ["agency.pn-test", "csu"]

    tablet = factories.TokenClient().as_member(unit.member)
    assert tablet.post(f"/api/units/{unit.pk}/status/", {"status": "on_scene"}).status_code == 200
    assert incident.journal.filter(kind=JournalKind.UNIT, text="TV 12 : En route → Sur place").exists()
    assert tablet.post(f"/api/units/{unit.pk}/status/", {"status": "asleep"}).status_code == 400
    assert tablet.post(f"/api/units/{unit.pk}/engage/", {"incident": incident.pk}).status_code == 403
    assert [u["status"] for u in tablet.get("/api/units/").json()] == ["on_scene"]
    status_events = Event.objects.filter(type="unit.status").order_by("-id").first()
    assert status_events.data["unit"]["status"] == UnitStatus.ON_SCENE


def test_an_hour_offline_then_200_queued_writes_replayed_take_effect_exactly_once(unit, api):
    """The tablet queued 200 writes (positions every 18 s, statuses, messages, acks) and, its
    network flaky, sends the whole queue twice, the second time partly out of order."""
    nets_ensure()
    operator = factories.make_member(role="operator")
    from incidents.services.radio import radio_message_send

    flashes = [radio_message_send(member=operator, to_unit=unit, text=f"Flash {i}", priority="flash")
               for i in range(5)]
    agency_net = unit.direct_net  # replies go on its direct line
    start = timezone.now() - dt.timedelta(hours=1)
    queue = []
    for i in range(180):  # positions along a 1.2 km walk eastwards
        queue.append((f"/api/units/{unit.pk}/position/", {
            "location": geo(offset(offset(CENTRE, bearing=270, metres=600), bearing=90, metres=i * 6)),
            "at": (start + dt.timedelta(seconds=18 * i)).isoformat()}))
    for i in range(5):
        queue.append((f"/api/radio/messages/{flashes[i].pk}/ack/", {}))
    for status in ["en_route", "on_scene", "available"] * 2 + ["unavailable"] * 2:
        queue.append((f"/api/units/{unit.pk}/status/", {"status": status}))
    for i in range(7):
        queue.append(("/api/radio/messages/", {"net": agency_net.pk, "text": f"Compte rendu {i}"}))
    assert len(queue) == 200
    keyed = [(f"tablet-{unit.pk}-{i}", path, body) for i, (path, body) in enumerate(queue)]

    client = api.as_member(unit.member)
    first = {}
    for key, path, body in keyed:
        answer = client.post(path, body, HTTP_IDEMPOTENCY_KEY=key)
        assert answer.status_code in (200, 201), (path, answer.content)
        first[key] = answer.json()
    positions, messages = UnitPosition.objects.count(), RadioMessage.objects.count()
    events = Event.objects.count()

    replay = keyed[100:] + keyed[:100]
    for key, path, body in replay:
        answer = client.post(path, body, HTTP_IDEMPOTENCY_KEY=key)
        assert answer["Idempotent-Replayed"] == "true"
        assert answer.json() == first[key]

    assert UnitPosition.objects.count() == positions == 180
    assert RadioMessage.objects.count() == messages == 5 + 7
    assert Event.objects.count() == events  # nothing was published twice
    assert all(m.receipts.get().acknowledged_at for m in flashes)
    unit.refresh_from_db()
    assert unit.status == "unavailable"
    # A key reused for another request is refused, not applied.
    answer = client.post(f"/api/units/{unit.pk}/status/", {"status": "available"},
                         HTTP_IDEMPOTENCY_KEY=keyed[-1][0])
    assert answer.status_code == 422
