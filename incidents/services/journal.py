"""The main courante (journal) of an incident: every line is written here, and published to
those who may read it."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext

from config.errors import DomainError, NotAllowed
from incidents.choices import JournalKind
from incidents.events import JournalAppended, journal_entry_data
from incidents.models import Incident, JournalEntry
from incidents.selectors.incidents import incident_audience, incidents_visible_to
from incidents.services.common import centre_staff_required, text_checked
from partners.models import Member
from realtime.services import publish


def journal_line_write(*, incident: Incident, user: User, kind: str, text: str,
                       corrects: JournalEntry | None = None) -> JournalEntry:
    """Write a line and publish it (a camera line is kept from the Croix-Rouge). The line of
    another family's service (a share, a status, a radio message...), which checked its
    rights and the text already: nothing is checked here."""
    entry = JournalEntry.objects.create(incident=incident, author=user, kind=kind, text=text,
                                        corrects=corrects)
    publish(JournalAppended(incident_id=incident.pk, entry=journal_entry_data(entry)),
            audience=incident_audience(incident, camera_data=kind == JournalKind.CAMERA))
    return entry


@transaction.atomic
def journal_append(*, incident: Incident, member: Member, text: str,
                   corrects: JournalEntry | None = None) -> JournalEntry:
    """Add a note to the main courante (a correction points at the entry it corrects). Any
    member who sees the incident may."""
    if not member.is_centre_staff and not incidents_visible_to(member).filter(pk=incident.pk).exists():
        raise NotAllowed(gettext("This incident is not shared with your service."))
    if corrects is not None and corrects.incident_id != incident.pk:
        raise DomainError(gettext("The corrected entry belongs to another incident."), field="corrects")
    return journal_line_write(incident=incident, user=member.user, kind=JournalKind.NOTE,
                              text=text_checked(text, "text"), corrects=corrects)


@transaction.atomic
def journal_camera_note(*, incident: Incident, member: Member, text: str) -> JournalEntry:
    """A line about the incident's images (a snapshot taken...) by the centre's staff: seen only
    by those who may see camera data, like the camera attachments."""
    centre_staff_required(member)
    return journal_line_write(incident=incident, user=member.user, kind=JournalKind.CAMERA,
                              text=text_checked(text, "text"))
