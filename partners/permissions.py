"""DRF permissions from roles. Deny by default: a user without a member profile gets nothing."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from partners.selectors import member_of


class IsCentreStaff(BasePermission):
    """Operators, supervisors and administrators of the CSU."""

    message = _("Reserved to the centre's operators and supervisors.")

    def has_permission(self, request, view) -> bool:
        member = member_of(request.user)
        return member is not None and member.is_centre_staff


class IsSupervisor(BasePermission):
    message = _("Reserved to the centre's supervisors.")

    def has_permission(self, request, view) -> bool:
        member = member_of(request.user)
        return member is not None and member.is_supervisor


class CentreReadsSupervisorWrites(BasePermission):
    """Centre staff read; only supervisors write (masks, authorisations, camera settings)."""

    message = _("Reading is reserved to the centre's staff, writing to its supervisors.")

    def has_permission(self, request, view) -> bool:
        member = member_of(request.user)
        if member is None:
            return False
        return member.is_centre_staff if request.method in SAFE_METHODS else member.is_supervisor


class IsAuditor(BasePermission):
    """Auditors, and the centre's administrators, read the access journal."""

    message = _("Reserved to auditors.")

    def has_permission(self, request, view) -> bool:
        member = member_of(request.user)
        return member is not None and member.agency.kind == "CSU" and member.role in {"auditor", "admin"}
