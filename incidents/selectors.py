"""Who may see which incident: the one rule that REST, pages and the event stream call."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.models import Incident
from partners.choices import Role
from partners.models import Member
from realtime import audiences
from realtime.audiences import Audience


def incidents_visible_to(member: Member | None) -> QuerySet[Incident]:
    """Deny by default: the centre sees every incident; a partner agent or a field unit
    those shared with its agency; everyone else none."""
    qs = Incident.objects.select_related("nature", "commune")
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT}:
        return qs.filter(shared_with=member.agency)
    return qs.none()


def incident_audience(incident: Incident) -> Audience:
    """The centre, and the members of every agency the incident is shared with."""
    return audiences.agencies(incident.shared_with.values_list("code", flat=True))
