"""Croix-Rouge alerts: raised → acknowledged → taken charge → closed, re-sent then escalated when
nobody acknowledges (time controlled), monthly statistics, and no video data — no camera
identifier, stream address or grant — in anything the Croix-Rouge receives."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from incidents.models import Alert
from incidents.services.alerts import alert_acknowledge, alert_follow_up, alert_raise
from incidents.services.incidents import incident_attach_camera, incident_create, incident_share
from incidents.services.radio import nets_ensure, radio_message_send
from incidents.services.units import unit_engage, unit_position_report
from partners.choices import AgencyKind
from realtime import selectors as realtime_selectors
from realtime.audiences import groups_of
from realtime.models import Event
from tests import factories
from tests.factories import CENTRE, offset

pytestmark = pytest.mark.django_db

BODY = {"location": {"type": "Point", "coordinates": [CENTRE.x, CENTRE.y]},
        "address": "Parvis de la gare", "description": "Homme âgé allongé sur un banc, peu couvert",
        "people": 1, "conditions": ["cold", "night"]}


@pytest.fixture
def crf(area, settings):
    settings.HUB_ALERT_ACK_SECONDS = 120
    settings.HUB_ALERT_RESENDS = 2
    agency = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    return {"agency": agency, "desk": factories.make_member(role="partner_agent", agency=agency),
            "unit": factories.make_unit(agency=agency, callsign="CRF MARAUDE 1")}


def test_the_crf_workflow_over_the_api(crf, operator, api):
    raised = api.as_member(operator).post("/api/alerts/", BODY, HTTP_IDEMPOTENCY_KEY="a1")
    assert raised.status_code == 201, raised.content
    alert = raised.json()
    assert alert["status"] == "raised" and alert["reference"].startswith("CRF-")
    assert alert["commune_name"] == "Montmorency" and alert["conditions"] == ["cold", "night"]
    event = Event.objects.get(type="alert.raised")
    assert event.audience == ["agency.crf-test", "csu"]

    desk = factories.TokenClient().as_member(crf["desk"])
    tablet = factories.TokenClient().as_member(crf["unit"].member)
    assert [a["id"] for a in desk.get("/api/alerts/").json()] == [alert["id"]]
    assert [a["id"] for a in tablet.get("/api/alerts/").json()] == [alert["id"]]
    # Nobody else reads the Croix-Rouge's alerts; only the centre raises them.
    pn_agent = factories.make_member(role="partner_agent")
    assert factories.TokenClient().as_member(pn_agent).get("/api/alerts/").status_code == 403
    assert desk.post("/api/alerts/", BODY).status_code == 403

    acked = desk.post(f"/api/alerts/{alert['id']}/ack/")
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == crf["desk"].user.username
    assert desk.post(f"/api/alerts/{alert['id']}/ack/").json() == acked.json()  # twice: unchanged
    # The operator cannot acknowledge for the Croix-Rouge.
    assert api.post(f"/api/alerts/{alert['id']}/ack/").status_code == 403

    taken = tablet.post(f"/api/alerts/{alert['id']}/take-charge/", {})
    assert taken.json()["status"] == "taken_charge" and taken.json()["unit"] == "CRF MARAUDE 1"
    crf["unit"].refresh_from_db()
    assert crf["unit"].status == "en_route"
    assert tablet.post(f"/api/alerts/{alert['id']}/close/", {"outcome": "tea"}).status_code == 400
    closed = tablet.post(f"/api/alerts/{alert['id']}/close/", {"outcome": "sheltered",
                                                               "note": "Orienté vers l'accueil de nuit"})
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "sheltered"
    assert desk.post(f"/api/alerts/{alert['id']}/take-charge/",
                     {"unit": crf["unit"].pk}).status_code == 409
    assert [e.data["alert"]["status"] for e in Event.objects.filter(type="alert.updated").order_by("id")] == [
        "acknowledged", "taken_charge", "closed"]


def test_bad_alerts_are_refused_with_nothing_written(crf, operator, api):
    client = api.as_member(operator)
    for change, field in [({"people": 0}, "people"), ({"description": ""}, "description"),
                          ({"conditions": ["snowstorm"]}, "conditions"),
                          ({"location": {"type": "Point", "coordinates": [2.35, 48.85]}}, "location")]:
        answer = client.post("/api/alerts/", {**BODY, **change})
        assert answer.status_code == 400 and field in answer.json()["detail"], answer.json()
    assert Alert.objects.count() == 0 and not Event.objects.filter(type__startswith="alert.").exists()


def test_an_alert_nobody_acknowledges_is_resent_then_escalated(crf, operator):
    t0 = timezone.now()
    alert = alert_raise(member=operator, location=CENTRE, description="Famille sous la pluie",
                        people=4, conditions=["rain", "children"], now=t0)
    quick = alert_raise(member=operator, location=CENTRE, description="Autre", now=t0)
    alert_acknowledge(alert=quick, member=crf["desk"], now=t0 + dt.timedelta(seconds=30))

    assert alert_follow_up(now=t0 + dt.timedelta(seconds=119)) == {"resent": 0, "escalated": 0}
    assert alert_follow_up(now=t0 + dt.timedelta(seconds=120)) == {"resent": 1, "escalated": 0}
    assert alert_follow_up(now=t0 + dt.timedelta(seconds=240)) == {"resent": 1, "escalated": 0}
    assert alert_follow_up(now=t0 + dt.timedelta(seconds=360)) == {"resent": 0, "escalated": 1}
    assert alert_follow_up(now=t0 + dt.timedelta(hours=3)) == {"resent": 0, "escalated": 0}
    resent = Event.objects.filter(type="alert.raised", data__alert__id=alert.pk).order_by("id")
    assert [e.data["resend"] for e in resent] == [0, 1, 2]
    escalated = Event.objects.filter(type="alert.updated", data__alert__id=alert.pk).get()
    assert escalated.data["alert"]["escalated_at"] is not None
    assert escalated.audience == ["agency.crf-test", "csu"]
    # Acknowledged late, it is still acknowledged; escalation is not repeated.
    alert_acknowledge(alert=alert, member=crf["desk"])
    assert alert_follow_up(now=t0 + dt.timedelta(hours=4)) == {"resent": 0, "escalated": 0}


def test_monthly_statistics_and_time_to_take_charge(crf, operator, api):
    from incidents.services.alerts import alert_take_charge

    year = timezone.localdate().year
    base = timezone.make_aware(dt.datetime(year, 1, 15, 22, 0))
    for minutes in (10, 20, 60):
        alert = alert_raise(member=operator, location=CENTRE, description="Froid", now=base)
        alert_take_charge(alert=alert, unit=crf["unit"], member=crf["unit"].member,
                          now=base + dt.timedelta(minutes=minutes))
    alert_raise(member=operator, location=CENTRE, description="Canicule",
                now=timezone.make_aware(dt.datetime(year, 7, 2, 15, 0)))
    stats = factories.TokenClient().as_member(crf["desk"]).get(f"/api/alerts/stats/?year={year}").json()
    january, july = stats["months"][0], stats["months"][6]
    assert (january["raised"], january["taken_charge"]) == (3, 3)
    assert january["mean_minutes_to_take_charge"] == 30.0
    assert january["median_minutes_to_take_charge"] == 20.0
    assert (july["raised"], july["taken_charge"], july["median_minutes_to_take_charge"]) == (1, 0, None)
    assert api.as_member(operator).get("/api/alerts/stats/?year=x").status_code == 400


def test_nothing_the_croix_rouge_receives_names_a_camera_or_a_video(crf, operator):
    """A busy scene around the Croix-Rouge: an incident shared with it and the police, a camera
    attached, a live video grant to the police, radio traffic, units moving, alerts. Every frame
    its sockets may receive, and every API answer it gets, is searched for video data."""
    from streaming.services import grant_create

    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    camera = factories.make_camera(code="CAM-SECRET-042", location=CENTRE)
    camera.stream_uri = "rtsp://10.9.8.7/secret-stream"
    camera.save()
    factories.make_authorisation(cameras=[camera], recipients=[AgencyKind.PN])
    pn_unit = factories.make_unit(agency=pn, callsign="TV 12")
    nets_ensure()
    incident = incident_create(member=operator, nature="detresse", location=CENTRE,
                               description="Personne en détresse")
    incident_share(incident=incident, agency_code="crf-test", member=operator)
    incident_attach_camera(incident=incident, camera=camera, member=operator)
    incident_share(incident=incident, agency_code="pn-test", member=operator)
    grant_create(camera=camera, agency_code="pn-test", incident=incident, granted_by=operator.user)
    unit_engage(unit=pn_unit, incident=incident, member=operator)
    unit_engage(unit=crf["unit"], incident=incident, member=operator)
    radio_message_send(member=operator, net=incident.net, text="Maraude attendue", priority="urgent")
    radio_message_send(member=crf["unit"].member, net=incident.net, text="CRF en route")
    unit_position_report(member=crf["unit"].member, unit=crf["unit"],
                         point=offset(CENTRE, bearing=45, metres=200))
    alert = alert_raise(member=operator, location=CENTRE, description="Sans-abri, froid",
                        conditions=["cold"])
    alert_follow_up(now=timezone.now() + dt.timedelta(hours=1))
    alert_follow_up(now=timezone.now() + dt.timedelta(hours=2))
    alert_follow_up(now=timezone.now() + dt.timedelta(hours=3))
    alert_acknowledge(alert=alert, member=crf["desk"])

    forbidden = ["CAM-SECRET-042", "rtsp://", "secret-stream", "synthetic:", "camera", "grant",
                 "stream", "whep"]
    # The socket path: what events_after replays to each Croix-Rouge member is what it is sent live.
    for member in (crf["desk"], crf["unit"].member):
        frames = realtime_selectors.events_after(0, groups_of(member.user, member), limit=10_000,
                                                 through=Event.objects.latest("id").id)
        types = {f["type"] for f in frames}
        assert {"alert.raised", "alert.updated", "radio.message", "unit.position", "unit.engaged",
                "journal.appended", "incident.shared"} <= types
        text = json.dumps(frames, ensure_ascii=False).lower()
        for word in forbidden:
            assert word.lower() not in text, (word, member)
    # The REST path: every endpoint the Croix-Rouge's pages and tablets call.
    for member in (crf["desk"], crf["unit"].member):
        client = factories.TokenClient().as_member(member)
        answers = [client.get(path) for path in (
            "/api/alerts/", "/api/alerts/stats/", "/api/units/", "/api/radio/nets/",
            "/api/radio/messages/", f"/api/radio/nets/{incident.net.pk}/messages/",
            "/api/incidents/", f"/api/incidents/{incident.pk}/")]
        answers.append(client.post(f"/api/alerts/{alert.pk}/ack/"))
        for answer in answers:
            assert answer.status_code == 200, answer.content
            text = answer.content.decode().lower()
            for word in forbidden:
                assert word.lower() not in text, (word, answer.request["PATH_INFO"])
    # ...while the police's agents, whose service holds the grant, do get video data on their
    # socket (the grant's events go to the agency's partner agents, not to its field units).
    pn_frames = realtime_selectors.events_after(0, ["agency.pn-test", "agents.pn-test"],
                                                through=Event.objects.latest("id").id)
    assert "CAM-SECRET-042".lower() in json.dumps(pn_frames).lower()
