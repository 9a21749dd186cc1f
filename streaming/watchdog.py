"""What the video watchdog asks the database about a viewer, again and again while they watch.

Kept apart from the runtime (which has no database access of its own) and written
for the watchdog's thread: plain synchronous ORM calls, no cache, so that a grant
revoked, an expired habilitation or a logout elsewhere counts at the next round.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from cameras.models import Camera
from partners.models import ApiToken, Member
from streaming.selectors import camera_view_denial


def viewing_denial(user_id: int, camera_id: int) -> str | None:
    """``camera_view_denial`` for the viewer's current member profile and the camera as they are now."""
    camera = Camera.objects.filter(pk=camera_id).first()
    if camera is None:
        return "camera_removed"
    member = Member.objects.select_related("user", "agency").filter(user_id=user_id).first()
    return camera_view_denial(member, camera)


def credential_valid(credential: tuple[str, str], user_id: int) -> bool:
    """The session or token the viewing was opened with still stands (not logged out, ended,
    expired or revoked)."""
    kind, value = credential
    if kind == "session":
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=value)
        return str(store.get(SESSION_KEY)) == str(user_id)
    if kind == "token":
        return ApiToken.objects.filter(digest=value, user_id=user_id, revoked_at__isnull=True,
                                       expires_at__gt=timezone.now()).exists()
    return True
