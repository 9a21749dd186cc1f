"""Radio traffic, units and Croix-Rouge alerts in every state a screen can show, written through
the real services, for the browser tests of the traffic screens (contrast, alerting).

Times are derived from one ``base`` instant: the follow-up (re-send, escalation) is driven with
explicit ``now`` values, so nothing depends on when the test runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from incidents.models import Alert, Incident, RadioMessage, Unit
from incidents.services.alerts import (
    alert_acknowledge,
    alert_close,
    alert_follow_up,
    alert_raise,
    alert_take_charge,
)
from incidents.services.incidents import incident_create, incident_share, incident_transition
from incidents.services.radio import (
    net_for_agency,
    net_for_incident,
    radio_acknowledge,
    radio_follow_up,
    radio_message_send,
)
from incidents.services.units import unit_status_set
from partners.choices import AgencyKind
from partners.models import Member
from tests import factories
from tests.factories import CENTRE, offset

# 40 characters, the longest callsign the hub accepts, with no space to break at.
LONG_CALLSIGN = "VSAV-MONTMORENCY-SOISY-DEUIL-LABARRE-042"
# A registration plate and a long street address: words a narrow column cannot break.
LONG_TEXT = ("Véhicule suspect immatriculé AB-123-CD-ZZ-POURSUITE-EN-COURS-DIRECTION-ENGHIEN-LES-BAINS "
             "stationné devant le 142 avenue Charles-de-Gaulle, témoin au 06 12 34 56 78, "
             "conducteur parti à pied vers la gare.")
LONG_ADDRESS = "Parvis de la gare routière Montmorency–Soisy–Deuil-la-Barre, abri-bus n° 4 côté quai B"


@dataclass
class Traffic:
    operator: Member
    pn_agent: Member
    crf_desk: Member
    pn_unit: Unit
    long_unit: Unit
    crf_unit: Unit
    base: dt.datetime
    # The message the test re-sends while the pages are open (a "renvoi" only exists live).
    to_resend: list[RadioMessage] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)

    def resend_now(self) -> dict[str, int]:
        """Re-send ``to_resend`` (unacknowledged), the way the periodic follow-up does."""
        message = self.to_resend[0]
        delay = settings.HUB_RADIO_ACK_SECONDS[message.priority]
        return radio_follow_up(now=message.last_sent_at + dt.timedelta(seconds=delay + 1))


def escalate_radio(messages: list[RadioMessage]) -> None:
    """Run the follow-up past every re-send of ``messages`` until they are escalated."""
    start = max(m.last_sent_at for m in messages)
    step = dt.timedelta(seconds=max(settings.HUB_RADIO_ACK_SECONDS[m.priority] for m in messages) + 1)
    for n in range(1, settings.HUB_RADIO_RESENDS + 2):
        radio_follow_up(now=start + n * step)


def escalate_alert(alert: Alert) -> None:
    step = dt.timedelta(seconds=settings.HUB_ALERT_ACK_SECONDS + 1)
    for n in range(1, settings.HUB_ALERT_RESENDS + 2):
        alert_follow_up(now=alert.last_sent_at + n * step)


def build_traffic(*, incidents: bool = False) -> Traffic:
    """A commune, the centre, a PN agency with two units (one with a 40-character callsign), a
    Croix-Rouge with a desk and a unit, and traffic of every priority in every state:

    - to the centre from PN units: routine, urgent and flash waiting for the centre's
      acknowledgement, and the same three acknowledged;
    - from the centre to the PN unit: urgent and flash escalated, routine waiting;
    - from the centre to the Croix-Rouge unit: routine, urgent and flash waiting for it, the
      same three acknowledged, urgent and flash escalated;
    - one flash from the centre to each unit kept for a live re-send (``Traffic.resend_now``);
    - alerts raised, acknowledged, taken charge of, closed, and escalated;
    - units in every status;
    - with ``incidents``: incidents of every priority and status shared with the PN, one
      with radio traffic in its main courante.
    """
    commune = factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-plaine-vallee")
    operator = factories.make_member(role="operator", username="alice")
    pn_agent = factories.make_member(role="partner_agent", agency=pn, username="pn-agent")
    crf_desk = factories.make_member(role="partner_agent", agency=crf, username="crf-desk")
    pn_unit = factories.make_unit(agency=pn, callsign="TV 12")
    long_unit = factories.make_unit(agency=pn, callsign=LONG_CALLSIGN)
    crf_unit = factories.make_unit(agency=crf, callsign="MARAUDE 1")
    factories.make_unit(agency=crf, callsign="MARAUDE 2", member=False)
    base = timezone.now()
    early = base - dt.timedelta(hours=2)
    traffic = Traffic(operator=operator, pn_agent=pn_agent, crf_desk=crf_desk, pn_unit=pn_unit,
                      long_unit=long_unit, crf_unit=crf_unit, base=base)

    # Escalations first, an hour before the rest: the follow-up that escalates them must
    # not touch the messages still waiting for their first delay.
    escalated = [
        radio_message_send(member=operator, to_unit=pn_unit, priority="urgent", ack_required=True,
                           text="TV 12, confirmez votre position", now=early),
        radio_message_send(member=operator, to_unit=pn_unit, priority="flash",
                           text="TV 12, rejoignez immédiatement la gare", now=early),
        radio_message_send(member=operator, to_unit=crf_unit, priority="urgent", ack_required=True,
                           text="Maraude 1, confirmez la prise en charge", now=early),
        radio_message_send(member=operator, to_unit=crf_unit, priority="flash",
                           text="Maraude 1, personne inconsciente signalée parvis de la gare", now=early),
    ]
    escalate_radio(escalated)
    escalated_alert = alert_raise(member=operator, location=offset(CENTRE, bearing=45, metres=200),
                                  address="Square Maurice-Utrillo",
                                  description="Femme seule avec un enfant, sans abri", people=2,
                                  conditions=["cold", "children", "night"], now=early)
    escalate_alert(escalated_alert)
    traffic.alerts["escalated"] = escalated_alert

    later = base - dt.timedelta(minutes=30)
    traffic.to_resend = [
        radio_message_send(member=operator, to_unit=pn_unit, priority="flash",
                           text="TV 12, rappelez le CSU", now=later),
        radio_message_send(member=operator, to_unit=crf_unit, priority="flash",
                           text="Maraude 1, rappelez le CSU", now=later),
    ]

    pn_net = net_for_agency(pn)
    for n, priority in enumerate(("routine", "urgent", "flash")):
        at = base - dt.timedelta(minutes=20 - n)
        acked = radio_message_send(member=pn_unit.member, net=pn_net, priority=priority, now=at,
                                   text=f"TV 12 : message {priority} lu par le centre")
        radio_acknowledge(message=acked, member=operator)
        acked_crf = radio_message_send(member=operator, to_unit=crf_unit, priority=priority,
                                       ack_required=True, now=at,
                                       text=f"Maraude 1 : message {priority} acquitté")
        radio_acknowledge(message=acked_crf, member=crf_unit.member)
    radio_message_send(member=operator, to_unit=pn_unit, priority="routine", ack_required=True,
                       text="TV 12, passez au poste en fin de service", now=base - dt.timedelta(minutes=10))
    for n, priority in enumerate(("routine", "urgent", "flash")):
        at = base - dt.timedelta(minutes=5 - n)
        radio_message_send(member=operator, to_unit=crf_unit, priority=priority, ack_required=True, now=at,
                           text=f"Maraude 1 : message {priority} à acquitter")
    radio_message_send(member=long_unit.member, net=pn_net, priority="urgent", text=LONG_TEXT,
                       now=base - dt.timedelta(minutes=2))
    radio_message_send(member=pn_unit.member, net=pn_net, priority="routine",
                       text="TV 12 : ronde terminée secteur château", now=base - dt.timedelta(minutes=1))
    radio_message_send(member=pn_unit.member, net=pn_net, priority="urgent",
                       text="TV 12 : demande de renfort rue de la Gare", now=base - dt.timedelta(seconds=40))
    radio_message_send(member=pn_unit.member, net=pn_net, priority="flash",
                       text="TV 12 : agression en cours, individu armé", now=base - dt.timedelta(seconds=20))

    # Alerts: raised (new), acknowledged, taken charge of, closed.
    def raise_alert(description: str, **extra) -> Alert:
        return alert_raise(member=operator, location=CENTRE, description=description,
                           now=base - dt.timedelta(minutes=3), **extra)

    closed = raise_alert("Homme ivre couché sur un banc", conditions=["night"])
    alert_close(alert=closed, member=crf_desk, outcome="sheltered")
    taken = raise_alert("Personne âgée désorientée", conditions=["cold"], address="Place du Marché")
    alert_take_charge(alert=taken, unit=crf_unit, member=crf_desk)
    acked_alert = raise_alert("Jeune homme blessé à la main", conditions=["health"])
    alert_acknowledge(alert=acked_alert, member=crf_desk)
    raised = raise_alert("Homme âgé allongé sur un banc, peu couvert, ne répond pas aux passants",
                         address=LONG_ADDRESS, people=1, conditions=["cold", "night", "health"])
    traffic.alerts.update(closed=closed, taken_charge=taken, acknowledged=acked_alert, raised=raised)

    # Units in every status (the Croix-Rouge unit went en route when it took charge).
    unit_status_set(unit=pn_unit, status="on_scene", member=operator)
    unit_status_set(unit=long_unit, status="unavailable", member=operator)

    if incidents:
        traffic.incidents = _shared_incidents(operator, pn)
    assert commune is not None
    return traffic


def _shared_incidents(operator: Member, pn) -> list[Incident]:
    """Incidents of every priority and status shared with ``pn``; the first carries radio traffic."""
    made = []
    for n, (priority, status) in enumerate(((1, "open"), (2, "engaged"), (3, "open"), (1, "engaged"),
                                             (2, "closed"), (3, "cancelled"))):
        incident = incident_create(member=operator, nature="rixe" if n % 2 else "malaise",
                                   location=offset(CENTRE, bearing=60 * n, metres=150 + 40 * n),
                                   description=f"Incident de test {n + 1}", priority=priority,
                                   address="12 rue de la Gare" if n == 0 else LONG_ADDRESS)
        incident_share(incident=incident, agency_code=pn.code, member=operator)
        if n == 0:
            net = net_for_incident(incident)
            for priority_word in ("routine", "urgent", "flash"):
                radio_message_send(member=operator, net=net, priority=priority_word,
                                   text=f"Message {priority_word} sur le réseau de l'incident")
        if status != "open":
            if status == "closed":
                incident_transition(incident=incident, status="engaged", member=operator)
            incident = incident_transition(incident=incident, status=status, member=operator)
        made.append(incident)
    return made
