"""What the views of several families share: the caller's member profile, the role gate of
endpoints that every member reads and the centre's staff write."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request

from config.errors import NotAllowed
from partners.models import Member
from partners.selectors import member_of


def member_required(request: Request) -> Member:
    """The caller's member profile; an account without one is refused (403)."""
    member = member_of(request.user)
    if member is None:
        raise NotAllowed(gettext("This account is not a member of any service."))
    return member


class CentreStaffWrites(IsAuthenticated):
    """Reads for every signed-in caller (the selectors decide what each sees); writes for the
    centre's staff, refused with the view's ``write_refusal``. The service checks again: the
    gate answers first, before the body is read or an id looked up."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS:
            return True
        self.message = view.write_refusal
        member = member_of(request.user)
        return member is not None and member.is_centre_staff
