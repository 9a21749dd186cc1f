"""Incidents: open, change, move along their statuses, attach cameras, share with partner
agencies. Reserved to the centre's staff."""

from __future__ import annotations

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from cameras.models import Camera
from config.errors import Conflict, DomainError
from geo.selectors import commune_at
from incidents.choices import IncidentStatus, JournalKind
from incidents.events import IncidentCreated, IncidentShared, IncidentUnshared, IncidentUpdated, incident_data
from incidents.models import Incident, Nature
from incidents.selectors.incidents import incident_audience
from incidents.services.common import (
    OutsideServiceArea,
    UnknownAgency,
    UnknownNature,
    centre_staff_required,
    text_checked,
)
from incidents.services.journal import journal_line_write
from incidents.services.radio import net_for_incident
from partners.choices import AgencyKind
from partners.models import Agency, Member
from realtime.services import outbox_lock, publish


def _next_reference(year: int) -> str:
    # Serialised by the outbox lock every incident creation takes anyway; the
    # unique constraint on reference is the backstop.
    prefix = f"CSU-{year}-"
    # No row lock here: sharing locks the incident row and then takes the outbox lock;
    # locking rows after the outbox lock would deadlock with it.
    last = (Incident.objects.filter(reference__startswith=prefix)
            .order_by("-reference").values_list("reference", flat=True).first())
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:06d}"


@transaction.atomic
def incident_create(*, member: Member, nature: str, location: Point, description: str,
                    priority: int = 3, address: str = "") -> Incident:
    """Open an incident where ``location`` is, in the commune that contains it."""
    centre_staff_required(member, gettext("Only the centre's operators open incidents."))
    nature_obj = Nature.objects.filter(code=nature, active=True).first()
    if nature_obj is None:
        raise UnknownNature(gettext("Unknown nature: %(nature)s.") % {"nature": nature}, field="nature")
    if priority not in (1, 2, 3):
        raise DomainError(gettext("Priority is 1 (urgent), 2 or 3."), field="priority")
    description = text_checked(description, "description")
    commune = commune_at(location)
    if commune is None:
        raise OutsideServiceArea(gettext("This location is outside the service area."), field="location")
    outbox_lock()  # taken now rather than at publish: it also serialises reference numbers
    now = timezone.now()
    incident = Incident.objects.create(
        reference=_next_reference(timezone.localtime(now).year), nature=nature_obj,
        priority=priority, location=location, address=address.strip()[:300], commune=commune,
        description=description, reported_by=member.user, created_at=now)
    publish(IncidentCreated(incident=incident_data(incident)), audience=incident_audience(incident))
    journal_line_write(incident=incident, user=member.user, kind=JournalKind.OPENED, text=description)
    return incident


@transaction.atomic
def incident_share(*, incident: Incident, agency_code: str, member: Member) -> Incident:
    """Share the incident with an agency: its members see it, live, with its journal."""
    centre_staff_required(member)
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None or agency.kind == AgencyKind.CSU:
        raise UnknownAgency(gettext("No partner service has the code %(code)s.") % {"code": agency_code},
                            field="agency")
    incident = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(gettext("A closed incident cannot be shared."), field="incident")
    if incident.shared_with.filter(pk=agency.pk).exists():
        return incident
    incident.shared_with.add(agency)
    incident.version += 1
    incident.save(update_fields=["version", "updated_at"])
    journal_line_write(incident=incident, user=member.user, kind=JournalKind.SHARED,
                       text=f"Partagé avec {agency.name}")
    publish(IncidentShared(incident=incident_data(incident), agency=agency.code),
            audience=incident_audience(incident))
    net_for_incident(incident)  # the incident's talk group, heard by whoever it is shared with
    return incident


@transaction.atomic
def incident_unshare(*, incident: Incident, agency_code: str, member: Member) -> Incident:
    """Stop sharing: the agency's members lose the incident (they are told first)."""
    centre_staff_required(member)
    incident = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
    agency = incident.shared_with.filter(code=agency_code).first()
    if agency is None:
        raise UnknownAgency(gettext("The incident is not shared with %(code)s.") % {"code": agency_code},
                            field="agency")
    # Told while still in the audience, so that their screens drop it.
    publish(IncidentUnshared(incident_id=incident.pk, reference=incident.reference, agency=agency.code),
            audience=incident_audience(incident))
    incident.shared_with.remove(agency)
    incident.version += 1
    incident.save(update_fields=["version", "updated_at"])
    # Those who keep it get its new version (and shared_with), as after any change.
    publish(IncidentUpdated(incident=incident_data(incident)), audience=incident_audience(incident))
    journal_line_write(incident=incident, user=member.user, kind=JournalKind.UNSHARED,
                       text=f"Fin du partage avec {agency.name}")
    return incident


# Allowed moves of the status. An open incident may be closed at once (a doubt
# lifted without engaging anyone); closed and cancelled are final.
TRANSITIONS: dict[str, set[str]] = {
    IncidentStatus.OPEN: {IncidentStatus.ENGAGED, IncidentStatus.CLOSED, IncidentStatus.CANCELLED},
    IncidentStatus.ENGAGED: {IncidentStatus.CLOSED, IncidentStatus.CANCELLED},
    IncidentStatus.CLOSED: set(),
    IncidentStatus.CANCELLED: set(),
}


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"
    status_code = 409


class StaleVersion(Conflict):
    """Someone changed the incident since the caller read it."""

    code = "stale_version"


def incident_locked(incident: Incident, version: int | None) -> Incident:
    # FOR NO KEY UPDATE, of this row only: inserts that point at the incident (journal
    # lines, radio receipts) take a KEY SHARE lock on it at commit, which a plain FOR
    # UPDATE would block, a deadlock with the outbox lock (benchmarks/radio.py).
    locked = (Incident.objects.select_for_update(of=("self",), no_key=True)
              .select_related("nature", "commune").get(pk=incident.pk))
    if version is not None and version != locked.version:
        raise StaleVersion(gettext("Someone else changed the incident meanwhile: check its new version, "
                                   "then try again."), field="version")
    return locked


def _bump_and_announce(incident: Incident) -> None:
    incident.version += 1
    incident.save()
    publish(IncidentUpdated(incident=incident_data(incident)), audience=incident_audience(incident))


@transaction.atomic
def incident_transition(*, incident: Incident, status: str, member: Member,
                        version: int | None = None, comment: str = "") -> Incident:
    """Move the incident to ``status`` when the current status allows it (``TRANSITIONS``)."""
    centre_staff_required(member)
    incident = incident_locked(incident, version)
    if status not in IncidentStatus.values:
        raise DomainError(gettext("Unknown status: %(status)s.") % {"status": status}, field="status")
    if status not in TRANSITIONS[incident.status]:
        raise TransitionNotAllowed(
            gettext("An incident “%(current)s” cannot become “%(next)s”.")
            % {"current": IncidentStatus(incident.status).label.lower(),
               "next": IncidentStatus(status).label.lower()}, field="status")
    previous = incident.status
    incident.status = status
    _bump_and_announce(incident)
    text = f"{IncidentStatus(previous).label} → {IncidentStatus(status).label}"
    if comment.strip():
        text += f" : {text_checked(comment, 'comment')}"
    kind = JournalKind.CLOSED if status == IncidentStatus.CLOSED else JournalKind.STATUS
    journal_line_write(incident=incident, user=member.user, kind=kind, text=text)
    return incident


@transaction.atomic
def incident_update(*, incident: Incident, member: Member, version: int,
                    priority: int | None = None, nature: str | None = None,
                    address: str | None = None, location: Point | None = None) -> Incident:
    """Change priority, nature, address or location; refused (409) when ``version`` is stale.

    A move re-derives the commune; every change is written in the journal.
    """
    centre_staff_required(member, gettext("Only the centre's operators change incidents."))
    incident = incident_locked(incident, version)
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(gettext("A closed incident cannot change."), field="status")
    changes = []
    if priority is not None and priority != incident.priority:
        if priority not in (1, 2, 3):
            raise DomainError(gettext("Priority is 1 (urgent), 2 or 3."), field="priority")
        changes.append(f"priorité {incident.priority} → {priority}")
        incident.priority = priority
    if nature is not None and nature != incident.nature.code:
        nature_obj = Nature.objects.filter(code=nature, active=True).first()
        if nature_obj is None:
            raise UnknownNature(gettext("Unknown nature: %(nature)s.") % {"nature": nature}, field="nature")
        changes.append(f"nature « {incident.nature.label} » → « {nature_obj.label} »")
        incident.nature = nature_obj
    if address is not None and address.strip() != incident.address:
        incident.address = address.strip()[:300]
        changes.append(f"adresse : {incident.address}")
    if location is not None and not location.equals_exact(incident.location, 1e-9):
        commune = commune_at(location)
        if commune is None:
            raise OutsideServiceArea(gettext("This location is outside the service area."), field="location")
        incident.location, incident.commune = location, commune
        changes.append(f"nouvelle position ({location.y:.5f}, {location.x:.5f}), {commune.name}")
    if not changes:
        return incident
    _bump_and_announce(incident)
    journal_line_write(incident=incident, user=member.user, kind=JournalKind.NOTE,
                       text="Modification : " + " ; ".join(changes))
    return incident


@transaction.atomic
def incident_attach_camera(*, incident: Incident, camera: Camera, member: Member) -> Incident:
    """Attach a camera to the incident (journalled); attaching it twice changes nothing."""
    centre_staff_required(member)
    incident = incident_locked(incident, None)
    if incident.cameras.filter(pk=camera.pk).exists():
        return incident
    incident.cameras.add(camera)
    _bump_and_announce(incident)
    journal_line_write(incident=incident, user=member.user, kind=JournalKind.CAMERA,
                       text=f"Caméra associée : {camera.code} ({camera.name})")
    return incident

