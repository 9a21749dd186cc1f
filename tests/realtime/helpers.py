"""Builders shared by the event-bus tests (synchronous: wrap them in ``database_sync_to_async``)."""

from __future__ import annotations

import uuid

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from incidents.events import JournalAppended, JournalEntryData
from incidents.models import Incident
from incidents.services.incidents import incident_create, incident_share
from partners.choices import AgencyKind
from partners.models import Agency, Member
from realtime.audiences import Audience, groups_of
from realtime.models import Event
from realtime.services import publish
from tests import factories

PARTNER_KINDS = [AgencyKind.PN, AgencyKind.PM, AgencyKind.GN, AgencyKind.SDIS, AgencyKind.CRF]


def agency(kind: str) -> Agency:
    """One agency of this kind, always the same one (``pn-test``, ``crf-test``...)."""
    return factories.make_agency(kind=kind, code=f"{kind.lower()}-test")


def people() -> dict[str, Member]:
    """An operator, a supervisor and an auditor of the centre, an agent of each partner kind,
    and a field unit of the SDIS."""
    area()
    crew = {role: factories.make_member(role=role) for role in ("operator", "supervisor", "auditor")}
    for kind in PARTNER_KINDS:
        crew[kind.lower()] = factories.make_member(role="partner_agent", agency=agency(kind))
    crew["sdis_unit"] = factories.make_member(role="field_unit", agency=agency(AgencyKind.SDIS))
    return crew


def _has_commune() -> bool:
    from geo.models import Commune

    return Commune.objects.exists()


def area() -> None:
    """The service area (one commune around Montmorency's centre), once."""
    if not _has_commune():
        factories.make_commune()


def open_incident(member, *, shared_with: tuple[str, ...] = (), description: str = "Rixe devant la gare",
                  nature: str = "rixe") -> Incident:
    """An incident at Montmorency's centre, shared with these agency kinds (``"PN"``...)."""
    area()
    incident = incident_create(member=member, nature=nature, location=Point(2.3222, 48.9883, srid=4326),
                               description=description)
    for kind in shared_with:
        incident = incident_share(incident=incident, agency_code=agency(kind).code, member=member)
    return incident


def listens_on(member: Member) -> list[str]:
    return groups_of(member.user, member)


def marker(*members: Member) -> int:
    """Publish one event that all these members hear; returns its id.

    A client whose next frame is the marker received nothing before it: the relay
    sends in id order and a channel delivers in the order it was sent.
    """
    groups = {g for m in members for g in listens_on(m)}
    with transaction.atomic():
        row = publish(JournalAppended(incident_id=0, entry=JournalEntryData(
            id=0, at=timezone.now().isoformat(), author="test", kind="note", text=f"marker {uuid.uuid4()}",
            corrects=None)), audience=Audience(groups))
    return row.id


def visible_ids(member: Member, *, after: int = 0) -> list[int]:
    """Ids of the outbox events this member may see, after ``after``, in order. Markers are
    not among them: they are about no incident, and a replay sends only what REST would
    show (``realtime.visibility``); they reach a socket live, never in a replay."""
    events = (Event.objects.filter(id__gt=after, audience__overlap=listens_on(member))
              .exclude(type="journal.appended", data__incident_id=0))
    return list(events.order_by("id").values_list("id", flat=True))


def latest_id() -> int:
    """The id of the last outbox event (0 when empty)."""
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def age_all(*, days: float) -> None:
    """Make every outbox event ``days`` old."""
    import datetime as dt

    Event.objects.update(at=timezone.now() - dt.timedelta(days=days))
