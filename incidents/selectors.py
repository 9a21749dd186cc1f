"""Who may see which incident: the one rule that REST, pages and the event stream call."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.choices import JournalKind
from incidents.models import Incident, JournalEntry
from partners.choices import AgencyKind, Role
from partners.models import Member
from realtime import audiences
from realtime.audiences import Audience


def incidents_visible_to(member: Member | None) -> QuerySet[Incident]:
    """Deny by default: the centre sees every incident; a partner agent or a field unit
    those shared with its agency; everyone else none."""
    # The commune's boundary is never shown with an incident: do not load it.
    qs = Incident.objects.select_related("nature", "commune").defer("commune__boundary")
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT}:
        return qs.filter(shared_with=member.agency)
    return qs.none()


def incident_audience(incident: Incident, *, camera_data: bool = False) -> Audience:
    """The centre, and the members of every agency the incident is shared with.

    ``camera_data``: the event names cameras; the Croix-Rouge, which never gets
    video nor camera identifiers, is left out.
    """
    agencies = incident.shared_with.all()
    if camera_data:
        agencies = agencies.exclude(kind=AgencyKind.CRF)
    return audiences.agencies(agencies.values_list("code", flat=True))


def journal_visible_to(incident: Incident, member: Member | None) -> QuerySet[JournalEntry]:
    """The journal of an incident the member may see; camera lines are kept from the CRF."""
    entries = incident.journal.select_related("author")
    if member is not None and member.agency.kind == AgencyKind.CRF:
        entries = entries.exclude(kind=JournalKind.CAMERA)
    return entries
