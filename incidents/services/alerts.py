"""Croix-Rouge alerts (signalements de personnes en détresse): the centre raises them, the
Croix-Rouge acknowledges, sends a unit and closes; those nobody acknowledges in time are sent
again, then escalated."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import Conflict, DomainError, NotAllowed
from geo.selectors import commune_at
from incidents.choices import AlertCondition, AlertOutcome, AlertStatus, UnitStatus
from incidents.events import AlertRaised, AlertUpdated, alert_data
from incidents.models import Alert, Unit
from incidents.selectors.alerts import alert_audience, is_crf_member
from incidents.selectors.units import unit_of
from incidents.services.common import (
    MAX_TEXT,
    OutsideServiceArea,
    centre_staff_required,
    retired_refusal,
    text_checked,
)
from incidents.services.units import unit_status_write
from partners.choices import AgencyKind, Role
from partners.models import Agency, Member
from realtime.services import outbox_lock, publish


def _alert_reference(year: int) -> str:
    prefix = f"CRF-{year}-"
    last = (Alert.objects.filter(reference__startswith=prefix).order_by("-reference")
            .values_list("reference", flat=True).first())
    return f"{prefix}{(int(last.rsplit('-', 1)[1]) + 1 if last else 1):06d}"


def _alert_announce(alert: Alert) -> None:
    alert.version += 1
    alert.save()
    publish(AlertUpdated(alert=alert_data(alert)), audience=alert_audience())


@transaction.atomic
def alert_raise(*, member: Member, location: Point, description: str, people: int = 1,
                conditions: list[str] | None = None, address: str = "",
                now: dt.datetime | None = None) -> Alert:
    """Signal a person in distress to the Croix-Rouge (its desk and its units, live).

    Nothing about cameras is carried: the operator describes what is seen. The centre's staff only."""
    centre_staff_required(member, gettext("Only the centre's operators raise alerts."))
    description = text_checked(description, "description")
    if not 1 <= people <= 100:
        raise DomainError(gettext("From 1 to 100 people."), field="people")
    conditions = list(dict.fromkeys(conditions or []))
    unknown = set(conditions) - set(AlertCondition.values)
    if unknown:
        raise DomainError(gettext("Unknown conditions: %(conditions)s.")
                          % {"conditions": ", ".join(sorted(unknown))}, field="conditions")
    commune = commune_at(location)
    if commune is None:
        raise OutsideServiceArea(gettext("This location is outside the service area."), field="location")
    if not Agency.objects.filter(kind=AgencyKind.CRF).exists():
        raise Conflict(gettext("No Croix-Rouge agency is registered to receive the alert."))
    outbox_lock()  # serialises the reference numbers too
    now = now or timezone.now()
    alert = Alert.objects.create(
        reference=_alert_reference(timezone.localtime(now).year), location=location,
        address=address.strip()[:300], commune=commune, description=description, people=people,
        conditions=conditions, raised_by=member.user, raised_at=now, last_sent_at=now)
    publish(AlertRaised(alert=alert_data(alert), resend=0), audience=alert_audience())
    return alert


def _alert_locked(alert: Alert) -> Alert:
    return (Alert.objects.select_for_update(of=("self",), no_key=True).select_related("commune", "unit")
            .get(pk=alert.pk))


@transaction.atomic
def alert_acknowledge(*, alert: Alert, member: Member, now: dt.datetime | None = None) -> Alert:
    """The Croix-Rouge has seen the alert (its escalation stops). Twice: unchanged."""
    if not is_crf_member(member):
        raise NotAllowed(gettext("Only the Croix-Rouge acknowledges its alerts."))
    alert = _alert_locked(alert)
    if alert.status != AlertStatus.RAISED:
        if alert.status == AlertStatus.CLOSED:
            raise Conflict(gettext("This alert is closed."), field="status")
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at, alert.acknowledged_by = now or timezone.now(), member.user
    _alert_announce(alert)
    return alert


@transaction.atomic
def alert_take_charge(*, alert: Alert, unit: Unit, member: Member, now: dt.datetime | None = None) -> Alert:
    """A Croix-Rouge unit goes to the person (it goes en route)."""
    if not is_crf_member(member):
        raise NotAllowed(gettext("Only the Croix-Rouge takes charge of its alerts."))
    if unit.agency.kind != AgencyKind.CRF or unit.agency_id != member.agency_id:
        raise DomainError(gettext("Choose a unit of your Croix-Rouge agency."), field="unit")
    if unit.retired:
        raise retired_refusal(unit, "unit")
    own = unit_of(member)
    if member.role == Role.FIELD_UNIT and own != unit:
        raise NotAllowed(gettext("A field unit takes charge for itself."))
    alert = _alert_locked(alert)
    if alert.status == AlertStatus.TAKEN_CHARGE and alert.unit_id == unit.pk:
        return alert
    if alert.status not in {AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED}:
        raise Conflict(gettext("This alert is already “%(status)s”.")
                       % {"status": AlertStatus(alert.status).label.lower()}, field="status")
    now = now or timezone.now()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, member.user
    alert.status, alert.unit, alert.taken_charge_at = AlertStatus.TAKEN_CHARGE, unit, now
    _alert_announce(alert)
    if unit.status != UnitStatus.EN_ROUTE:
        unit_status_write(unit=unit, status=UnitStatus.EN_ROUTE, user=member.user)
    return alert


@transaction.atomic
def alert_close(*, alert: Alert, member: Member, outcome: str, note: str = "",
                now: dt.datetime | None = None) -> Alert:
    """Close the alert with what came of it (the centre may close one raised by mistake)."""
    if not (is_crf_member(member) or member.is_centre_staff):
        raise NotAllowed(gettext("Only the Croix-Rouge or the centre closes an alert."))
    if outcome not in AlertOutcome.values:
        raise DomainError(gettext("Unknown outcome: %(outcome)s.") % {"outcome": outcome}, field="outcome")
    alert = _alert_locked(alert)
    if alert.status == AlertStatus.CLOSED:
        if alert.outcome == outcome:
            return alert
        raise Conflict(gettext("This alert is already closed."), field="status")
    alert.status, alert.closed_at = AlertStatus.CLOSED, now or timezone.now()
    alert.outcome, alert.outcome_note = outcome, (note or "").strip()[:MAX_TEXT]
    _alert_announce(alert)
    return alert


@transaction.atomic
def _alert_follow_up(alert_id: int, now: dt.datetime) -> str | None:
    alert = (Alert.objects.select_for_update(skip_locked=True, of=("self",))
             .select_related("commune", "unit")
             .filter(pk=alert_id, status=AlertStatus.RAISED, escalated_at__isnull=True).first())
    delay = dt.timedelta(seconds=settings.HUB_ALERT_ACK_SECONDS)
    if alert is None or now - alert.last_sent_at < delay:
        return None
    if alert.resends < settings.HUB_ALERT_RESENDS:
        alert.resends += 1
        alert.last_sent_at = now
        alert.save(update_fields=["resends", "last_sent_at"])
        publish(AlertRaised(alert=alert_data(alert), resend=alert.resends), audience=alert_audience())
        return "resent"
    alert.escalated_at = now
    _alert_announce(alert)
    return "escalated"


def alert_follow_up(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-send every alert not acknowledged within ``HUB_ALERT_ACK_SECONDS``,
    ``HUB_ALERT_RESENDS`` times, then escalate it to the supervisors (shown on the console)."""
    now = now or timezone.now()
    due = (Alert.objects.filter(status=AlertStatus.RAISED, escalated_at__isnull=True,
                                last_sent_at__lte=now - dt.timedelta(seconds=settings.HUB_ALERT_ACK_SECONDS))
           .order_by("id").values_list("id", flat=True))
    counts = {"resent": 0, "escalated": 0}
    for alert_id in list(due):
        outcome = _alert_follow_up(alert_id, now)
        if outcome:
            counts[outcome] += 1
    return counts
