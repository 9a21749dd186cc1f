"""Demo field units: two per partner agency, each with the tablet account that drives it
(demo mode only; see ``load_demo``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.text import slugify

from geo.models import Commune
from incidents.models import Unit
from incidents.services.units import callsign_normalise, unit_create
from partners.choices import AgencyKind, Role
from partners.models import Agency, Member
from partners.services import member_create

# The crews of the fixed demo agencies (partners.demo.FIXED_AGENCIES): police-secours cars,
# gendarmerie patrols, an ambulance and a fire engine, the Croix-Rouge's night rounds (maraudes).
CALLSIGNS = {
    "pn-montmorency": ["PS MONTMORENCY 1", "PS MONTMORENCY 2"],
    "pn-enghien": ["PS ENGHIEN 1", "PS ENGHIEN 2"],
    "gn-domont": ["GN DOMONT 1", "GN DOMONT 2"],
    "sdis-95": ["VSAV MONTMORENCY", "FPT DOMONT"],
    "crf-plaine-vallee": ["CRF MARAUDE 1", "CRF MARAUDE 2"],
}
UNITS_PER_AGENCY = 2


def _callsigns(agency: Agency, communes: dict[str, str]) -> list[str]:
    if agency.code in CALLSIGNS:
        return CALLSIGNS[agency.code]
    if agency.kind == AgencyKind.PM and agency.commune_insee in communes:
        stem = f"PM {communes[agency.commune_insee]}"
    else:
        stem = agency.code.replace("-", " ")
    return [callsign_normalise(f"{stem} {n}") for n in range(1, UNITS_PER_AGENCY + 1)]


def tablet_username(callsign: str) -> str:
    """``PS MONTMORENCY 1`` → ``tablette-ps-montmorency-1``."""
    return f"tablette-{slugify(callsign)}"


def demo_units() -> list[tuple[Agency, str, str]]:
    """``(agency, callsign, tablet username)`` of every demo unit, partner agencies in order."""
    communes = dict(Commune.objects.values_list("insee_code", "name"))
    return [(agency, callsign, tablet_username(callsign))
            for agency in Agency.objects.exclude(kind=AgencyKind.CSU).order_by("kind", "code")
            for callsign in _callsigns(agency, communes)]


@transaction.atomic
def demo_units_ensure(*, password: str) -> int:
    """Create the demo units that are missing, each with its field-unit account (``password``);
    a unit that exists is left as it is (a supervisor may have changed it). Returns how many
    units were created."""
    wanted = demo_units()
    units = set(Unit.objects.values_list("callsign", flat=True))
    User = get_user_model()
    accounts = {m.user.get_username(): m for m in Member.objects.select_related("user", "agency")
                .filter(user__username__in=[username for _, _, username in wanted])}
    # One hash for every new tablet account (half a second each otherwise), made only when one is
    # missing: these accounts share their published password anyway (demo mode only).
    hashed = ""
    created = 0
    for agency, callsign, username in wanted:
        if callsign in units:
            continue
        member = accounts.get(username)
        if member is None:  # password None: no hash now, the shared one is set just after
            hashed = hashed or make_password(password)
            member = member_create(username=username, password=None, agency_code=agency.code,
                                   role=Role.FIELD_UNIT, first_name="Tablette", last_name=callsign)
            User.objects.filter(pk=member.user_id).update(password=hashed)
        drives = member.role == Role.FIELD_UNIT and member.agency_id == agency.pk and not \
            Unit.objects.filter(member=member, retired_at__isnull=True).exists()
        unit_create(by=None, callsign=callsign, agency=agency, member=member if drives else None)
        created += 1
    return created


def demo_unit_accounts() -> list[tuple[str, list[tuple[str, str]]]]:
    """``(agency code, [(tablet username, callsign)...])`` of the demo units in service that
    have their tablet account, for ``demo_accounts`` to print."""
    wanted = {callsign: username for _, callsign, username in demo_units()}
    by_agency: dict[str, list[tuple[str, str]]] = {}
    units = (Unit.objects.filter(callsign__in=wanted, retired_at__isnull=True,
                                 member__user__username__in=list(wanted.values()))
             .select_related("agency", "member__user").order_by("agency__kind", "agency__code", "callsign"))
    for unit in units:
        driver = unit.member
        assert driver is not None  # filtered on member__user__username
        by_agency.setdefault(unit.agency.code, []).append((driver.user.get_username(), unit.callsign))
    return list(by_agency.items())
