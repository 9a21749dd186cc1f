"""Pages of live video: the partners' granted feeds (``/portail/flux/``) and the operators'
wall (``/mur/``). They render a frame; the video comes over WHEP (static/js/video.js) and
the hub's rules decide, on every offer and while it plays, who gets images. Also the pages of
recordings: judicial requisitions (``/requisitions/``) and the register (``/registre/``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from cameras.models import Camera
from partners.choices import AgencyKind, Role
from partners.selectors import member_of
from streaming.register import LIMIT as REGISTER_LIMIT

WALL_MAX_CAMERAS = 16


def _browser_ice_servers() -> list[dict]:
    """The ICE servers a browser uses (same as the hub's): TURN for viewers behind strict NATs."""
    return [{key: value for key, value in server.items() if key in {"urls", "username", "credential"}}
            for server in settings.HUB_WEBRTC_ICE_SERVERS]


@login_required
@ensure_csrf_cookie  # video.js sends the CSRF token with its offers
def feeds(request: HttpRequest) -> HttpResponse:
    """``/portail/flux/`` — a partner agent's live feeds (the centre's staff have the wall)."""
    member = member_of(request.user)
    if member is not None and member.is_centre_staff:
        return redirect("video-wall")
    if member is not None and member.agency.kind == AgencyKind.CRF:
        return render(request, "streaming/refused.html", {"message": _(
            "La Croix-Rouge française reçoit les signalements, jamais d'images de vidéoprotection "
            "(article L252-3 du code de la sécurité intérieure).")}, status=403)
    if member is None or member.role != Role.PARTNER_AGENT:
        raise PermissionDenied(_("Les flux vidéo sont réservés aux agents habilités des services "
                                 "partenaires."))
    return render(request, "streaming/feeds.html", {"member": member, "ice_servers": _browser_ice_servers()})


def _camera_ids(raw: str) -> list[int]:
    ids: list[int] = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if part.isdigit() and int(part) not in ids:
            ids.append(int(part))
    return ids[:WALL_MAX_CAMERAS]


@login_required
@ensure_csrf_cookie
def wall(request: HttpRequest) -> HttpResponse:
    """``/mur/?cameras=12,40,7`` — the operator's wall: a grid of the chosen cameras, live."""
    member = member_of(request.user)
    if member is None or not member.is_centre_staff:
        raise PermissionDenied(_("Le mur d'images est réservé aux opérateurs du centre."))
    requested = request.GET.get("cameras", "")
    ids = _camera_ids(requested)
    found = {c.pk: c for c in Camera.objects.filter(pk__in=ids)}
    cameras = [{"id": pk, "code": found[pk].code, "name": found[pk].name} for pk in ids if pk in found]
    return render(request, "streaming/wall.html", {
        "cameras": cameras, "missing": [pk for pk in ids if pk not in found], "requested": requested,
        "ice_servers": _browser_ice_servers()})


@login_required
@ensure_csrf_cookie  # requisitions.js sends the CSRF token with its writes
def requisitions(request: HttpRequest) -> HttpResponse:
    """``/requisitions/`` — record a judicial requisition, follow its extraction live, download
    the files and the signed manifest, record the hand-over (centre staff)."""
    member = member_of(request.user)
    if member is None or not member.is_centre_staff:
        raise PermissionDenied(_("Les réquisitions judiciaires sont réservées aux opérateurs du centre."))
    # The page shows "Lever le gel" to supervisors only; the release API decides anyway.
    return render(request, "streaming/requisitions.html", {"is_supervisor": member.is_supervisor})


@login_required
def register(request: HttpRequest) -> HttpResponse:
    """``/registre/`` — the register of recordings, holds, extractions and destructions, its CSV
    export and the extraction statistics (centre staff and auditors, as the register API)."""
    member = member_of(request.user)
    auditor = member is not None and member.agency.kind == AgencyKind.CSU and member.role == Role.AUDITOR
    if member is None or not (member.is_centre_staff or auditor):
        raise PermissionDenied(_("Le registre des enregistrements est réservé au personnel du centre "
                                 "et aux auditeurs."))
    return render(request, "streaming/register.html", {
        "member": member,
        "cameras": Camera.objects.order_by("code").values("code", "name"),
        "limit": REGISTER_LIMIT,
    })
