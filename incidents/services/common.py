"""What the services of several families check alike: texts, the service area, the rights
of the centre's staff, a retired unit."""

from __future__ import annotations

from django.contrib.gis.geos import Point
from django.utils.translation import gettext

from config.errors import Conflict, DomainError, NotAllowed
from geo.selectors import in_service_area
from incidents.models import Unit
from partners.models import Member

MAX_TEXT = 10_000


class OutsideServiceArea(DomainError):
    """The location is outside the communes the centre serves."""

    code = "outside_service_area"


class UnknownNature(DomainError):
    code = "unknown_nature"


class UnknownAgency(DomainError):
    code = "unknown_agency"


class UnitRetired(Conflict):
    """The unit is retired: it keeps its history but takes part in nothing."""

    code = "unit_retired"


def text_checked(value: str, field: str, *, limit: int = MAX_TEXT) -> str:
    """``value`` stripped; refused when empty or longer than ``limit``."""
    value = (value or "").strip()
    if not value:
        raise DomainError(gettext("This text cannot be empty."), field=field)
    if len(value) > limit:
        raise DomainError(gettext("At most %(count)d characters.") % {"count": limit}, field=field)
    return value


def in_area(point: Point, field: str) -> Point:
    if not in_service_area(point):
        raise OutsideServiceArea(gettext("This location is outside the service area."), field=field)
    return point


def centre_staff_required(member: Member, detail: str | None = None) -> None:
    """Refuse (403) a member who is not of the centre's staff (operators, supervisors,
    administrators); ``detail`` says what is reserved."""
    if not member.is_centre_staff:
        raise NotAllowed(detail or gettext("Reserved to the centre's operators and supervisors."))


def retired_refusal(unit: Unit, field: str) -> UnitRetired:
    return UnitRetired(gettext("%(callsign)s is retired: it can no longer be engaged nor called.")
                       % {"callsign": unit.callsign}, field=field)
