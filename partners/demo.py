"""Demo agencies and accounts (demo mode only; see ``load_demo``)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from partners.choices import AgencyKind, Role
from partners.models import Agency
from partners.services import member_create

DEMO_PASSWORD = "csu-demo-2026"
# The second factor of the demo accounts that need one (partner agents, supervisors,
# admins). Published on purpose: demo mode only. `python manage.py demo_code` prints
# the current code.
DEMO_TOTP_SECRET = "CSUIDEMOPLAINEVALLEEXXVIAAAAAAAA"

FIXED_AGENCIES = [
    ("csu", AgencyKind.CSU, "CSUi Plaine Vallée"),
    ("pn-montmorency", AgencyKind.PN, "Police nationale — commissariat de Montmorency"),
    ("pn-enghien", AgencyKind.PN, "Police nationale — commissariat d'Enghien-les-Bains"),
    ("gn-domont", AgencyKind.GN, "Gendarmerie nationale — brigade de Domont"),
    ("sdis-95", AgencyKind.SDIS, "SDIS du Val-d'Oise"),
    ("crf-plaine-vallee", AgencyKind.CRF, "Croix-Rouge française — unité locale Plaine Vallée"),
]

CENTRE_ACCOUNTS = [
    ("operateur", Role.OPERATOR, "Opérateur CSU"),
    ("operateur2", Role.OPERATOR, "Second opérateur CSU"),
    ("superviseur", Role.SUPERVISOR, "Superviseur CSU"),
    ("auditeur", Role.AUDITOR, "Auditeur (journal des accès)"),
    ("admin", Role.ADMIN, "Administrateur"),
]


def _of(name: str) -> str:
    """French elision: « de Domont », « d'Andilly », « d'Ézanville »."""
    return f"d'{name}" if name[0].lower() in "aeiouyéèêh" else f"de {name}"


def pm_code(commune_name: str) -> str:
    return "pm-" + slugify(commune_name)


@transaction.atomic
def demo_agencies_ensure(*, communes: list[tuple[str, str]]) -> int:
    """The agencies of docs/architecture.md, one municipal police per commune ``(insee, name)``."""
    wanted = [*FIXED_AGENCIES]
    created = 0
    for code, kind, name in wanted:
        _, new = Agency.objects.get_or_create(code=code, defaults={"kind": kind, "name": name})
        created += new
    for insee, name in communes:
        _, new = Agency.objects.get_or_create(
            code=pm_code(name),
            defaults={"kind": AgencyKind.PM, "name": f"Police municipale {_of(name)}",
                      "commune_insee": insee})
        created += new
    return created


def demo_accounts() -> list[tuple[str, str, str]]:
    """``(username, agency code, description)`` of every demo account."""
    accounts = [(u, "csu", label) for u, _, label in CENTRE_ACCOUNTS]
    for agency in Agency.objects.exclude(kind=AgencyKind.CSU).order_by("kind", "code"):
        accounts.append((f"agent-{agency.code}", agency.code, f"Agent — {agency.name}"))
    return accounts


@transaction.atomic
def demo_members_ensure() -> int:
    """One account per centre role and one partner agent per agency; idempotent."""
    User = get_user_model()
    existing = set(User.objects.values_list("username", flat=True))
    roles = {u: r for u, r, _ in CENTRE_ACCOUNTS}
    today = timezone.localdate()
    created = 0
    for username, agency_code, _label in demo_accounts():
        if username in existing:
            continue
        agency = Agency.objects.get(code=agency_code)
        receives_images = agency.kind not in {AgencyKind.CRF, AgencyKind.CSU}
        member_create(
            username=username, password=DEMO_PASSWORD, agency_code=agency_code,
            totp_secret=DEMO_TOTP_SECRET if roles.get(username, Role.PARTNER_AGENT) in {
                Role.PARTNER_AGENT, Role.SUPERVISOR, Role.ADMIN} else "",
            role=roles.get(username, Role.PARTNER_AGENT),
            habilitation_reference=f"HAB-{agency_code.upper()}-001" if receives_images else "",
            habilitation_authority="Préfecture du Val-d'Oise" if receives_images else "",
            habilitation_valid_from=today - dt.timedelta(days=90) if receives_images else None,
            habilitation_valid_until=today + dt.timedelta(days=365) if receives_images else None,
        )
        created += 1
    return created
