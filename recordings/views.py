"""Pages of the recordings: judicial requisitions (``/requisitions/``) and the register
(``/registre/``). They render a frame; the data comes from the recordings' REST API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from cameras.models import Camera
from partners.selectors import member_of
from recordings.models import DestroyedObject, RequisitionStatus
from recordings.register import LIMIT as REGISTER_LIMIT
from recordings.selectors import may_open_register, may_open_requisitions


@login_required
@ensure_csrf_cookie  # requisitions.js sends the CSRF token with its writes
def requisitions(request: HttpRequest) -> HttpResponse:
    """``/requisitions/`` — record a judicial requisition, follow its extraction live, download
    the files and the signed manifest, record the hand-over (centre staff)."""
    member = member_of(request.user)
    if not may_open_requisitions(member):
        raise PermissionDenied(_("Judicial requisitions are for the centre's operators."))
    # The page shows "Lever le gel" to supervisors only; the release API decides anyway.
    return render(request, "recordings/requisitions.html", {
        "is_supervisor": member.is_supervisor,
        "page_labels": {
            "status": {value: str(label) for value, label in RequisitionStatus.choices},
            "file_kind": {"manifest": _("Signed manifest"), "signature": _("Signature of the manifest"),
                          "public_key": _("The centre's public key")},
        },
    })


@login_required
def register(request: HttpRequest) -> HttpResponse:
    """``/registre/`` — the register of recordings, holds, extractions and destructions, its CSV
    export and the extraction statistics (centre staff and auditors, as the register API)."""
    member = member_of(request.user)
    if not may_open_register(member):
        raise PermissionDenied(_("The recordings register is for the centre's staff and the auditors."))
    return render(request, "recordings/register.html", {
        "member": member,
        "cameras": Camera.objects.order_by("code").values("code", "name"),
        "limit": REGISTER_LIMIT,
        "page_labels": {"object": {value: str(label) for value, label in DestroyedObject.choices}},
    })
