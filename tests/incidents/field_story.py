"""The radio, unit and alert events as their producers publish them, with the
audience each must have; tests/realtime/test_events.py checks them with every other type."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from incidents.services.alerts import alert_acknowledge, alert_raise
from incidents.services.radio import radio_acknowledge, radio_follow_up, radio_message_send
from incidents.services.units import unit_engage, unit_position_report, unit_status_set
from partners.models import Agency
from realtime.models import Event
from tests import factories
from tests.factories import CENTRE, offset


def field_events(incident, operator) -> dict[str, tuple[Event, list[str]]]:
    """``{type: (outbox row, expected audience)}`` for a PN unit on ``incident`` (shared with
    the PN and the GN) and a Croix-Rouge alert."""
    start = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    pn, crf = Agency.objects.get(code="pn-test"), Agency.objects.get(code="crf-test")
    unit = factories.make_unit(agency=pn, callsign="TV 12")  # unit.updated: created, with its tablet
    now = timezone.now()
    flash = radio_message_send(member=operator, to_unit=unit, text="Rappelez le CSU", priority="flash",
                               now=now)
    radio_acknowledge(message=flash, member=unit.member)
    radio_message_send(member=operator, to_unit=unit, text="Second", priority="flash", now=now)
    for seconds in (40, 80, 120):
        radio_follow_up(now=now + dt.timedelta(seconds=seconds * 10))
    unit_position_report(member=unit.member, unit=unit, point=offset(CENTRE, bearing=90, metres=100))
    unit_status_set(unit=unit, status="unavailable", member=operator)
    unit_status_set(unit=unit, status="available", member=operator)
    unit_engage(unit=unit, incident=incident, member=operator)
    alert = alert_raise(member=operator, location=CENTRE, description="Personne au sol, froid")
    alert_acknowledge(alert=alert, member=factories.make_member(role="partner_agent", agency=crf))
    rows = {}
    for row in Event.objects.filter(id__gt=start).order_by("id"):
        rows.setdefault(row.type, row)
    direct, pn_csu = sorted(["csu", f"unit.{unit.pk}"]), ["agency.pn-test", "csu"]
    expected = {
        "radio.message": direct, "radio.acknowledged": direct, "radio.escalated": direct,
        "unit.position": pn_csu, "unit.status": pn_csu, "unit.updated": pn_csu,
        "unit.engaged": sorted(["agency.gn-test", "agency.pn-test", "csu"]),
        "alert.raised": ["agency.crf-test", "csu"], "alert.updated": ["agency.crf-test", "csu"],
    }
    return {t: (rows[t], expected[t]) for t in expected}
