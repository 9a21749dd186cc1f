"""Pages of live video: the partners' granted feeds (``/portail/flux/``) and the operators'
wall (``/mur/``). They render a frame; the video comes over WHEP (static/js/video.js) and
the hub's rules decide, on every offer and while it plays, who gets images."""

from __future__ import annotations

import math
import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from partners.choices import AgencyKind
from partners.selectors import member_of
from streaming.selectors import (
    DEFAULT_WALL,
    camera_by_reference,
    camera_view_denial,
    denial_message,
    may_open_feeds,
    may_open_wall,
    wall_layout,
    wall_named,
    walls,
)

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
            "The Croix-Rouge receives reports, never video-protection pictures (article L252-3 "
            "of the code de la sécurité intérieure).")}, status=403)
    if not may_open_feeds(member):
        raise PermissionDenied(_("Video feeds are for the partner services' cleared agents."))
    return render(request, "streaming/feeds.html", {"member": member, "ice_servers": _browser_ice_servers()})


def _wall_cameras(raw: str, member) -> tuple[list[dict], list[dict]]:
    """The cameras named in ``?cameras=`` (ids or codes, in order) that this member may watch, and
    for each one left out, why (unknown, no authorisation in force, listed twice, too many)."""
    shown: list[dict] = []
    refused: list[dict] = []
    seen: set[int] = set()
    for reference in [part.strip() for part in re.split(r"[,;\s]+", raw) if part.strip()][:64]:
        camera = camera_by_reference(reference)
        if camera is None:
            why = _("no camera has this number") if reference.isdigit() else _("no camera has this code")
        elif camera.pk in seen:
            why = _("already shown")
        elif len(shown) >= WALL_MAX_CAMERAS:
            why = _("a wall shows %(count)d cameras at most") % {"count": WALL_MAX_CAMERAS}
        else:
            denial = camera_view_denial(member, camera)
            why = denial_message(denial) if denial else ""
        if why or camera is None:
            refused.append({"reference": reference, "reason": why})
            continue
        seen.add(camera.pk)
        shown.append({"position": len(shown) + 1, "camera_id": camera.pk, "camera_code": camera.code,
                      "camera_name": camera.name})
    return shown, refused


@login_required
@ensure_csrf_cookie
def wall(request: HttpRequest) -> HttpResponse:
    """``/mur/`` — the operators' video wall. By default the wall kept on the server (``?mur=<name>``,
    the main wall otherwise), which follows live what operators send to it from the console;
    ``?cameras=12,95014-s001-ptz`` shows those cameras instead (ids or codes), and says which it
    could not show and why."""
    member = member_of(request.user)
    if not may_open_wall(member):
        raise PermissionDenied(_("The video wall is for the centre's operators."))
    requested = request.GET.get("cameras", "").strip()
    refused: list[dict] = []
    if requested:
        tiles, refused = _wall_cameras(requested, member)
        columns = max(1, math.ceil(math.sqrt(len(tiles))))
        layout = {"name": "", "label": _("Chosen cameras"), "columns": columns,
                  "rows": max(1, math.ceil(len(tiles) / columns)), "tiles": tiles}
    else:
        wall_ = wall_named(request.GET.get("mur", "").strip() or DEFAULT_WALL)
        if wall_ is None:
            raise Http404(_("There is no video wall with this name."))
        layout = wall_layout(wall_)
    return render(request, "streaming/wall.html", {
        "layout": layout, "refused": refused, "requested": requested, "walls": walls(),
        "ice_servers": _browser_ice_servers()})
