"""Which lines of the main courante a member may read."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.choices import JournalKind
from incidents.models import Incident, JournalEntry
from incidents.selectors.incidents import incidents_visible_to
from partners.choices import AgencyKind
from partners.models import Member


def journal_visible_to(incident: Incident, member: Member | None) -> QuerySet[JournalEntry]:
    """The journal of an incident the member may see; camera lines are kept from the CRF."""
    entries = incident.journal.select_related("author")
    if member is not None and member.agency.kind == AgencyKind.CRF:
        entries = entries.exclude(kind=JournalKind.CAMERA)
    return entries


def journal_entries_visible_to(member: Member | None) -> QuerySet[JournalEntry]:
    """Every journal line the member may read: those of the incidents it sees, as
    :func:`journal_visible_to` gives them (the event stream's replay asks this)."""
    entries = JournalEntry.objects.filter(incident__in=incidents_visible_to(member).values("pk"))
    if member is not None and member.agency.kind == AgencyKind.CRF:
        entries = entries.exclude(kind=JournalKind.CAMERA)
    return entries

