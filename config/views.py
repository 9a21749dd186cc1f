"""Project-level pages: the landing page, the favicon and the health probe."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import cache_control

from config.navigation import desk_url

FAVICON = settings.BASE_DIR / "static" / "img" / "favicon.ico"


def home(request: HttpRequest) -> HttpResponse:
    """``/`` — each member to their desk (console, tablet, Croix-Rouge desk, portal, register);
    the signed out to the sign-in."""
    if not request.user.is_authenticated:
        return redirect("login")
    return HttpResponseRedirect(desk_url(request))


@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico`` — asked for by browsers on pages that do not name their icon (the
    admin, the API docs, a CSV): answered, not a 404 in every log."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness: answers 200 only when the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT postgis_lib_version()")
        (postgis,) = cursor.fetchone()
    return JsonResponse({"status": "ok", "postgis": postgis})
