"""Session policy for signed-in pages: expiry after inactivity and an absolute lifetime,
and no life for a session its owner ended elsewhere."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from partners.models import UserSession

STARTED = "hub_started_at"
ACTIVE = "hub_last_activity"
# Activity is written back at most this often: not one session write per request.
TOUCH_EVERY_SECONDS = 60


class ForwardedProtoMiddleware:
    """``X-Forwarded-Proto`` (what ``SECURE_PROXY_SSL_HEADER`` reads to call a request secure)
    is believed only from a trusted proxy; from anyone else it is dropped, so a client cannot
    make a plain-HTTP request pass for HTTPS."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_X_FORWARDED_PROTO" in request.META:
            from partners.auth import peer_is_trusted_proxy

            if not peer_is_trusted_proxy(request):
                del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


class SessionPolicyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.session.session_key:
            now = time.time()
            started = request.session.get(STARTED, now)
            active = request.session.get(ACTIVE, now)
            idle_limit = settings.HUB_SESSION_IDLE_MINUTES * 60
            life_limit = settings.HUB_SESSION_MAX_HOURS * 3600
            if now - active > idle_limit or now - started > life_limit:
                from partners.auth import session_end

                key = request.session.session_key
                logout(request)
                session_end(user=user, session_key=key, request=request, action="session_expired")
            else:
                request.session.setdefault(STARTED, now)
                if now - active > TOUCH_EVERY_SECONDS or ACTIVE not in request.session:
                    request.session[ACTIVE] = now
                    UserSession.objects.filter(session_key=request.session.session_key).update(
                        last_seen=timezone.now())
        return self.get_response(request)
