"""Radio traffic: nets follow the rights model, messages are acknowledged once per recipient,
and an urgent or flash message nobody acknowledges is re-sent, then escalated (time controlled)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from incidents.choices import JournalKind, NetKind
from incidents.models import Net, RadioMessage, RadioReceipt
from incidents.selectors.radio import nets_visible_to
from incidents.services.incidents import incident_create, incident_share
from incidents.services.radio import (
    NetNotAllowed,
    nets_ensure,
    radio_acknowledge,
    radio_follow_up,
    radio_message_send,
)
from partners.choices import AgencyKind
from realtime.audiences import groups_of
from realtime.models import Event
from tests import factories
from tests.factories import CENTRE

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(area, operator, settings):
    settings.HUB_RADIO_ACK_SECONDS = {"routine": 600, "urgent": 60, "flash": 30}
    settings.HUB_RADIO_RESENDS = 2
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    gn = factories.make_agency(kind=AgencyKind.GN, code="gn-test")
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    pn_unit = factories.make_unit(agency=pn, callsign="TV 12")
    gn_unit = factories.make_unit(agency=gn, callsign="GN 3")
    nets_ensure()
    return {"operator": operator, "pn": pn, "gn": gn, "crf": crf, "pn_unit": pn_unit,
            "gn_unit": gn_unit, "pn_agent": factories.make_member(role="partner_agent", agency=pn),
            "auditor": factories.make_member(role="auditor")}


def net(kind, **kw) -> Net:
    return Net.objects.get(kind=kind, **kw)


def events(start: int, type_: str) -> list[Event]:
    return list(Event.objects.filter(id__gt=start, type=type_).order_by("id"))


def last_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_nets_follow_the_rights_model(scene):
    incident = incident_create(member=scene["operator"], nature="rixe", location=CENTRE,
                               description="Rixe")
    assert not Net.objects.filter(incident=incident).exists()  # made when shared
    incident_share(incident=incident, agency_code="pn-test", member=scene["operator"])
    incident_net = net(NetKind.INCIDENT, incident=incident)

    def names(member):
        return {n.name for n in nets_visible_to(member)}

    pn_unit_member = scene["pn_unit"].member
    assert names(pn_unit_member) == {"Réseau Agency pn-test", "Interservices",
                                     f"Incident {incident.reference}", "Ligne directe TV 12"}
    assert names(scene["pn_agent"]) == {"Réseau Agency pn-test", "Interservices",
                                        f"Incident {incident.reference}"}
    assert names(scene["gn_unit"].member) == {"Réseau Agency gn-test", "Interservices", "Ligne directe GN 3"}
    assert names(scene["auditor"]) == set()
    assert incident_net in nets_visible_to(scene["operator"])
    # The unit's socket hears its direct line.
    assert f"unit.{scene['pn_unit'].pk}" in groups_of(pn_unit_member.user, pn_unit_member)

    # A GN unit may not speak on the PN's net nor on an incident not shared with it.
    for foreign in (net(NetKind.AGENCY, agency=scene["pn"]), incident_net,
                    net(NetKind.DIRECT, unit=scene["pn_unit"])):
        with pytest.raises(NetNotAllowed):
            radio_message_send(member=scene["gn_unit"].member, net=foreign, text="Ici GN 3")
    assert RadioMessage.objects.count() == 0


def test_a_message_reaches_its_net_and_an_incident_net_writes_the_journal(scene):
    incident = incident_create(member=scene["operator"], nature="rixe", location=CENTRE,
                               description="Rixe")
    incident_share(incident=incident, agency_code="pn-test", member=scene["operator"])
    start = last_id()
    message = radio_message_send(member=scene["pn_unit"].member, net=incident.net, text="Sur place, calme")
    assert message.from_callsign == "TV 12"
    # The sender's own unit is no recipient; the centre is, as a partner speaks.
    assert list(message.receipts.values_list("callsign", flat=True)) == ["CSU"]
    [sent] = events(start, "radio.message")
    assert sent.audience == ["agency.pn-test", "csu"]
    assert sent.data["message"]["text"] == "Sur place, calme"
    entry = incident.journal.get(kind=JournalKind.RADIO)
    assert entry.text == f"TV 12 → Incident {incident.reference} : Sur place, calme"


def test_acknowledgements_are_tracked_per_recipient_once(scene, api):
    message = radio_message_send(member=scene["operator"], to_unit=scene["pn_unit"], text="Rappelez",
                                 priority="flash")
    assert message.ack_required  # a flash always asks for one
    assert message.net.kind == NetKind.DIRECT
    assert list(message.receipts.values_list("callsign", "acknowledged_at")) == [("TV 12", None)]
    start = last_id()

    # Someone who sees the message but is not its recipient: 403, nothing written.
    other = factories.make_member(role="operator")
    answer = api.as_member(other).post(f"/api/radio/messages/{message.pk}/ack/")
    assert answer.status_code == 403 and answer.json()["error"] == "not_a_recipient"
    # Someone who does not see it at all: like a missing one.
    answer = factories.TokenClient().as_member(scene["gn_unit"].member).post(
        f"/api/radio/messages/{message.pk}/ack/")
    assert answer.status_code == 404

    unit_api = factories.TokenClient().as_member(scene["pn_unit"].member)
    first = unit_api.post(f"/api/radio/messages/{message.pk}/ack/")
    assert first.status_code == 200 and first.json()["callsign"] == "TV 12"
    again = unit_api.post(f"/api/radio/messages/{message.pk}/ack/")
    assert again.json() == first.json()
    assert RadioReceipt.objects.filter(message=message, acknowledged_at__isnull=False).count() == 1
    [ack] = events(start, "radio.acknowledged")
    assert ack.data["callsign"] == "TV 12" and ack.data["pending"] == []
    assert ack.audience == ["csu", f"unit.{scene['pn_unit'].pk}"]


def test_an_unacknowledged_flash_is_resent_then_escalated(scene):
    t0 = timezone.now()
    message = radio_message_send(member=scene["operator"], net=net(NetKind.AGENCY, agency=scene["pn"]),
                                 text="Véhicule suspect", priority="flash", now=t0)
    routine = radio_message_send(member=scene["operator"], net=message.net, text="RAS", now=t0)
    start = last_id()

    assert radio_follow_up(now=t0 + dt.timedelta(seconds=29)) == {"resent": 0, "escalated": 0}
    assert radio_follow_up(now=t0 + dt.timedelta(seconds=30)) == {"resent": 1, "escalated": 0}
    assert radio_follow_up(now=t0 + dt.timedelta(seconds=45)) == {"resent": 0, "escalated": 0}
    assert radio_follow_up(now=t0 + dt.timedelta(seconds=60)) == {"resent": 1, "escalated": 0}
    assert radio_follow_up(now=t0 + dt.timedelta(seconds=90)) == {"resent": 0, "escalated": 1}
    assert radio_follow_up(now=t0 + dt.timedelta(hours=1)) == {"resent": 0, "escalated": 0}

    resent = events(start, "radio.message")
    assert [e.data["resend"] for e in resent] == [1, 2]
    assert all(e.data["message"]["id"] == message.pk for e in resent)
    [escalated] = events(start, "radio.escalated")
    assert "csu" in escalated.audience
    assert escalated.data["message"]["pending"] == ["TV 12"]
    message.refresh_from_db()
    assert message.escalated_at == t0 + dt.timedelta(seconds=90)
    routine.refresh_from_db()
    assert routine.resends == 0 and routine.escalated_at is None  # routine traffic never escalates


def test_an_acknowledged_urgent_message_is_left_alone(scene):
    t0 = timezone.now()
    message = radio_message_send(member=scene["operator"], to_unit=scene["gn_unit"], text="Urgent",
                                 priority="urgent", ack_required=True, now=t0)
    assert radio_follow_up(now=t0 + dt.timedelta(seconds=60)) == {"resent": 1, "escalated": 0}
    radio_acknowledge(message=message, member=scene["gn_unit"].member, now=t0 + dt.timedelta(seconds=70))
    assert radio_follow_up(now=t0 + dt.timedelta(hours=2)) == {"resent": 0, "escalated": 0}


def test_bad_messages_are_refused_with_nothing_written(scene, api):
    client = api.as_member(scene["operator"])
    agency_net = net(NetKind.AGENCY, agency=scene["pn"])
    cases = [
        ({"text": "x"}, "net"),
        ({"net": agency_net.pk, "to_unit": scene["pn_unit"].pk, "text": "x"}, "net"),
        ({"net": agency_net.pk, "text": "  "}, "text"),
        ({"net": agency_net.pk, "text": "x", "priority": "immediate"}, "priority"),
        ({"net": 999999, "text": "x"}, "net"),
        ({"net": agency_net.pk, "text": "x", "location": {"type": "Point", "coordinates": [2.35, 48.85]}},
         "location"),
    ]
    for body, field in cases:
        answer = client.post("/api/radio/messages/", body)
        assert answer.status_code == 400, (body, answer.content)
        assert field in answer.json()["detail"], answer.json()
    gn_client = factories.TokenClient().as_member(scene["gn_unit"].member)
    answer = gn_client.post("/api/radio/messages/", {"net": agency_net.pk, "text": "x"})
    assert answer.status_code == 403 and answer.json()["error"] == "net_not_allowed"
    assert RadioMessage.objects.count() == 0 and RadioReceipt.objects.count() == 0


def test_nets_and_messages_over_the_api(scene, api):
    unit_api = api.as_member(scene["pn_unit"].member)
    nets = {n["kind"]: n for n in unit_api.get("/api/radio/nets/").json()}
    assert set(nets) == {"agency", "all", "direct"}
    sent = unit_api.post("/api/radio/messages/", {"net": nets["agency"]["id"], "text": "TV 12 disponible"},
                         HTTP_IDEMPOTENCY_KEY="k1")
    assert sent.status_code == 201
    assert sent.json()["from_callsign"] == "TV 12"
    listed = unit_api.get(f"/api/radio/nets/{nets['agency']['id']}/messages/").json()
    assert [m["text"] for m in listed] == ["TV 12 disponible"]
    gn_api = factories.TokenClient().as_member(scene["gn_unit"].member)
    assert gn_api.get(f"/api/radio/nets/{nets['agency']['id']}/messages/").status_code == 404
    # The centre sees that it owes an acknowledgement.
    pending = factories.TokenClient().as_member(scene["operator"]).get("/api/radio/messages/?pending=1")
    assert [m["id"] for m in pending.json()] == [sent.json()["id"]]


def test_pending_lists_only_what_awaits_the_callers_own_acknowledgement(scene, api):
    """``?pending=1``: for the centre's staff, the messages whose ``pending`` names the centre;
    for a field unit, those that name its unit. Not a message nobody has to acknowledge, nor one
    only units owe, nor one the caller has acknowledged already."""
    sdis = factories.make_agency(kind=AgencyKind.SDIS, code="sdis-test")  # no unit: nobody to ack
    nets_ensure()
    to_nobody = radio_message_send(member=scene["operator"], net=net(NetKind.AGENCY, agency=sdis),
                                   text="Appel du CSU au SDIS")
    to_unit = radio_message_send(member=scene["operator"], to_unit=scene["pn_unit"], text="Rappelez",
                                 priority="flash")
    pn_net = net(NetKind.AGENCY, agency=scene["pn"])
    from_unit = radio_message_send(member=scene["pn_unit"].member, net=pn_net, text="TV 12 disponible")
    from_gn = radio_message_send(member=scene["gn_unit"].member, net=net(NetKind.ALL_PARTNERS),
                                 text="GN 3 en patrouille")
    radio_acknowledge(message=from_gn, member=scene["operator"])
    assert to_nobody.receipts.count() == 0

    centre = api.as_member(scene["operator"]).get("/api/radio/messages/?pending=1").json()
    assert [m["text"] for m in centre] == ["TV 12 disponible"]
    assert all("CSU" in m["pending"] for m in centre)

    tablet = factories.TokenClient().as_member(scene["pn_unit"].member).get("/api/radio/messages/?pending=1")
    assert [m["id"] for m in tablet.json()] == [to_unit.pk, from_gn.pk]
    assert all("TV 12" in m["pending"] for m in tablet.json())
    # A partner agent's desk is nobody's recipient: nothing waits for it.
    desk = factories.TokenClient().as_member(scene["pn_agent"]).get("/api/radio/messages/?pending=1")
    assert desk.status_code == 200 and desk.json() == []
    # Without the filter, the centre reads the whole traffic.
    everything = factories.TokenClient().as_member(scene["operator"]).get("/api/radio/messages/").json()
    assert {m["id"] for m in everything} == {to_nobody.pk, to_unit.pk, from_unit.pk, from_gn.pk}
