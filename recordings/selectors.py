"""Reads of the recordings app that other modules share: who may open its pages, which cameras
are recorded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeGuard

from partners.choices import AgencyKind, Role
from partners.models import Member
from recordings.models import RecordingPlan, RecordingSegment

# Who may open each page of the recordings app: the views refuse the others, and the hub's
# menu (config/navigation.py) shows a page to those only.


def may_open_requisitions(member: Member | None) -> TypeGuard[Member]:
    """``/requisitions/``: the centre's staff (releasing a hold: supervisors, decided by the API)."""
    return member is not None and member.is_centre_staff


def may_open_register(member: Member | None) -> bool:
    """``/registre/``: the centre's staff and its auditors, as the register's API."""
    return member is not None and (
        member.is_centre_staff or (member.agency.kind == AgencyKind.CSU and member.role == Role.AUDITOR))


def cameras_with_recordings(camera_ids: Iterable[int]) -> set[int]:
    """Of ``camera_ids``, those recorded: an enabled recording plan, or recordings kept (a capture
    can be taken). What the console's camera facts call ``recorded``."""
    ids = list(camera_ids)
    planned = (RecordingPlan.objects.filter(camera_id__in=ids, enabled=True)
               .values_list("camera_id", flat=True))
    kept = (RecordingSegment.objects.filter(camera_id__in=ids, is_gap=False)
            .values_list("camera_id", flat=True).distinct())
    return set(planned) | set(kept)
