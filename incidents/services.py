"""Every write of the incidents app; each publishes its events through the outbox."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from cameras.models import Camera
from config.errors import Conflict, DomainError
from geo.selectors import commune_at
from incidents.choices import IncidentStatus, JournalKind
from incidents.events import (
    IncidentCreated,
    IncidentShared,
    IncidentUnshared,
    IncidentUpdated,
    JournalAppended,
    incident_data,
)
from incidents.models import Incident, JournalEntry, Nature
from incidents.selectors import incident_audience
from partners.choices import AgencyKind
from partners.models import Agency
from realtime.services import outbox_lock, publish

MAX_TEXT = 10_000


class OutsideServiceArea(DomainError):
    """The incident's location is outside the communes the centre serves."""

    code = "outside_service_area"


class UnknownNature(DomainError):
    code = "unknown_nature"


class UnknownAgency(DomainError):
    code = "unknown_agency"


def _text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("This text cannot be empty.", field=field)
    if len(value) > MAX_TEXT:
        raise DomainError(f"At most {MAX_TEXT} characters.", field=field)
    return value


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
def incident_create(*, author: AbstractBaseUser, nature: str, location: Point, description: str,
                    priority: int = 3, address: str = "") -> Incident:
    """Open an incident where ``location`` is, in the commune that contains it."""
    nature_obj = Nature.objects.filter(code=nature, active=True).first()
    if nature_obj is None:
        raise UnknownNature(f"Unknown nature {nature!r}.", field="nature")
    if priority not in (1, 2, 3):
        raise DomainError("Priority is 1 (urgent), 2 or 3.", field="priority")
    description = _text(description, "description")
    commune = commune_at(location)
    if commune is None:
        raise OutsideServiceArea("This location is outside the service area.", field="location")
    outbox_lock()  # taken now rather than at publish: it also serialises reference numbers
    now = timezone.now()
    incident = Incident.objects.create(
        reference=_next_reference(timezone.localtime(now).year), nature=nature_obj,
        priority=priority, location=location, address=address.strip()[:300], commune=commune,
        description=description, reported_by=author, created_at=now)
    publish(IncidentCreated(incident=incident_data(incident)), audience=incident_audience(incident))
    _journal(incident=incident, author=author, kind=JournalKind.OPENED, text=description)
    return incident


def _journal(*, incident: Incident, author: AbstractBaseUser, kind: str, text: str,
             corrects: JournalEntry | None = None) -> JournalEntry:
    entry = JournalEntry.objects.create(incident=incident, author=author, kind=kind, text=text,
                                        corrects=corrects)
    publish(JournalAppended(incident_id=incident.pk, entry_id=entry.pk, at=entry.at.isoformat(),
                            author=author.get_username(), kind=kind, text=text),
            audience=incident_audience(incident, camera_data=kind == JournalKind.CAMERA))
    return entry


@transaction.atomic
def journal_append(*, incident: Incident, author: AbstractBaseUser, text: str,
                   corrects: JournalEntry | None = None) -> JournalEntry:
    """Add a note to the main courante (a correction points at the entry it corrects)."""
    if corrects is not None and corrects.incident_id != incident.pk:
        raise DomainError("The corrected entry belongs to another incident.", field="corrects")
    return _journal(incident=incident, author=author, kind=JournalKind.NOTE,
                    text=_text(text, "text"), corrects=corrects)


@transaction.atomic
def incident_share(*, incident: Incident, agency_code: str, author: AbstractBaseUser) -> Incident:
    """Share the incident with an agency: its members see it, live, with its journal."""
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None or agency.kind == AgencyKind.CSU:
        raise UnknownAgency(f"No partner agency has code {agency_code!r}.", field="agency")
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict("A closed incident cannot be shared.", field="incident")
    if incident.shared_with.filter(pk=agency.pk).exists():
        return incident
    incident.shared_with.add(agency)
    incident.version += 1
    incident.save(update_fields=["version", "updated_at"])
    _journal(incident=incident, author=author, kind=JournalKind.SHARED,
             text=f"Partagé avec {agency.name}")
    publish(IncidentShared(incident=incident_data(incident), agency=agency.code),
            audience=incident_audience(incident))
    return incident


@transaction.atomic
def incident_unshare(*, incident: Incident, agency_code: str, author: AbstractBaseUser) -> Incident:
    """Stop sharing: the agency's members lose the incident (they are told first)."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    agency = incident.shared_with.filter(code=agency_code).first()
    if agency is None:
        raise UnknownAgency(f"The incident is not shared with {agency_code!r}.", field="agency")
    # Told while still in the audience, so that their screens drop it.
    publish(IncidentUnshared(incident_id=incident.pk, reference=incident.reference, agency=agency.code),
            audience=incident_audience(incident))
    incident.shared_with.remove(agency)
    incident.version += 1
    incident.save(update_fields=["version", "updated_at"])
    _journal(incident=incident, author=author, kind=JournalKind.UNSHARED,
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


def _locked(incident: Incident, version: int | None) -> Incident:
    locked = Incident.objects.select_for_update().select_related("nature", "commune").get(pk=incident.pk)
    if version is not None and version != locked.version:
        raise StaleVersion(f"The incident is at version {locked.version}, not {version}: "
                           "reload it and try again.", field="version")
    return locked


def _bump_and_announce(incident: Incident) -> None:
    incident.version += 1
    incident.save()
    publish(IncidentUpdated(incident=incident_data(incident)), audience=incident_audience(incident))


@transaction.atomic
def incident_transition(*, incident: Incident, status: str, author: AbstractBaseUser,
                        version: int | None = None, comment: str = "") -> Incident:
    """Move the incident to ``status`` when the current status allows it (``TRANSITIONS``)."""
    incident = _locked(incident, version)
    if status not in IncidentStatus.values:
        raise DomainError(f"Unknown status {status!r}.", field="status")
    if status not in TRANSITIONS[incident.status]:
        raise TransitionNotAllowed(
            f"An incident {IncidentStatus(incident.status).label.lower()} cannot become "
            f"{IncidentStatus(status).label.lower()}.", field="status")
    previous = incident.status
    incident.status = status
    _bump_and_announce(incident)
    text = f"{IncidentStatus(previous).label} → {IncidentStatus(status).label}"
    if comment.strip():
        text += f" : {_text(comment, 'comment')}"
    kind = JournalKind.CLOSED if status == IncidentStatus.CLOSED else JournalKind.STATUS
    _journal(incident=incident, author=author, kind=kind, text=text)
    return incident


@transaction.atomic
def incident_update(*, incident: Incident, author: AbstractBaseUser, version: int,
                    priority: int | None = None, nature: str | None = None,
                    address: str | None = None, location: Point | None = None) -> Incident:
    """Change priority, nature, address or location; refused (409) when ``version`` is stale.

    A move re-derives the commune; every change is written in the journal.
    """
    incident = _locked(incident, version)
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict("A closed incident cannot change.", field="status")
    changes = []
    if priority is not None and priority != incident.priority:
        if priority not in (1, 2, 3):
            raise DomainError("Priority is 1 (urgent), 2 or 3.", field="priority")
        changes.append(f"priorité {incident.priority} → {priority}")
        incident.priority = priority
    if nature is not None and nature != incident.nature.code:
        nature_obj = Nature.objects.filter(code=nature, active=True).first()
        if nature_obj is None:
            raise UnknownNature(f"Unknown nature {nature!r}.", field="nature")
        changes.append(f"nature « {incident.nature.label} » → « {nature_obj.label} »")
        incident.nature = nature_obj
    if address is not None and address.strip() != incident.address:
        incident.address = address.strip()[:300]
        changes.append(f"adresse : {incident.address}")
    if location is not None and not location.equals_exact(incident.location, 1e-9):
        commune = commune_at(location)
        if commune is None:
            raise OutsideServiceArea("This location is outside the service area.", field="location")
        incident.location, incident.commune = location, commune
        changes.append(f"nouvelle position ({location.y:.5f}, {location.x:.5f}), {commune.name}")
    if not changes:
        return incident
    _bump_and_announce(incident)
    _journal(incident=incident, author=author, kind=JournalKind.NOTE,
             text="Modification : " + " ; ".join(changes))
    return incident


@transaction.atomic
def incident_attach_camera(*, incident: Incident, camera: Camera, author: AbstractBaseUser) -> Incident:
    """Attach a camera to the incident (journalled); attaching it twice changes nothing."""
    incident = _locked(incident, None)
    if incident.cameras.filter(pk=camera.pk).exists():
        return incident
    incident.cameras.add(camera)
    _bump_and_announce(incident)
    _journal(incident=incident, author=author, kind=JournalKind.CAMERA,
             text=f"Caméra associée : {camera.code} ({camera.name})")
    return incident
