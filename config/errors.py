"""One place that turns errors into the API's JSON shape ``{"error": code, "detail": ...}``.

Domain errors are exceptions of the apps (subclasses of :class:`DomainError`);
views never build error answers themselves. What DRF never sees (an unrouted address under
``/api/``, a method a plain Django view refuses, a crash, a body Django itself refuses) is
put in the same shape by :class:`ApiErrorMiddleware`, with a French ``detail``.

The database pool exhausted (no connection came free within the pool's wait, ``DB_POOL_MAX``
busy) is not a crash: the request never reached the database, so nothing was written, and
the same request succeeds a moment later. It is answered 503 with ``Retry-After``
(:func:`pool_exhausted_response`: JSON under ``/api/``, a short French page elsewhere), logged
once as a warning and counted in ``/metrics`` (``hub_db_pool_exhausted``), whether the view
(DRF's handler) or a middleware (:func:`server_error`, the 500 handler) met it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from prometheus_client import Counter
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

# The addresses whose errors are JSON whatever raised them: the API, and the WebSocket
# endpoints when they are reached over plain HTTP.
JSON_ERROR_PREFIXES = ("/api/", "/ws/")


class DomainError(Exception):
    """A rule of the domain refused the request; nothing was written."""

    code = "invalid"
    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: Any = None, *, field: str | None = None) -> None:
        self.detail = detail if detail is not None else self.__doc__
        self.field = field
        super().__init__(self.detail)

    def as_detail(self) -> Any:
        if self.field:
            return {self.field: [str(self.detail)]}
        return self.detail


class NotAllowed(DomainError):
    """The member's role does not allow this action."""

    code = "forbidden"
    status_code = status.HTTP_403_FORBIDDEN


class Conflict(DomainError):
    """The object changed meanwhile or is in a state that refuses this action."""

    code = "conflict"
    status_code = status.HTTP_409_CONFLICT


_CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "malformed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.NotAcceptable: "not_acceptable",
}


def _is_transient_db_error(exc: Exception) -> bool:
    """A deadlock or a serialisation failure: the transaction was rolled back whole and the
    same request, sent again, succeeds."""
    from django.db import OperationalError
    from psycopg import errors

    cause = exc.__cause__ if isinstance(exc, OperationalError) else None
    return isinstance(cause, errors.DeadlockDetected | errors.SerializationFailure | errors.LockNotAvailable)


log = logging.getLogger(__name__)

# How long a client refused for want of a database connection waits before sending again.
POOL_RETRY_AFTER_SECONDS = 5
POOL_EXHAUSTED_DETAIL = _("The service is momentarily saturated: try again in a few seconds.")
POOL_EXHAUSTED = Counter(
    "hub_db_pool_exhausted", "Requests (http) and WebSocket sockets or messages (websocket) this "
    "process refused because no database connection came free within the pool's wait: answered "
    "503 with Retry-After, or the socket closed with 1013. Growing means DB_POOL_MAX is too small "
    "for the load, or queries hold their connections too long.", ["where"])


def pool_exhausted(exc: BaseException | None) -> bool:
    """``exc`` comes from the database pool having no connection to give in time: psycopg_pool's
    ``PoolTimeout``, which Django hands on as the cause of a ``django.db.OperationalError``."""
    from psycopg_pool import PoolTimeout

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PoolTimeout):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def pool_exhausted_note(where: str, what: str) -> None:
    """Count a refusal for want of a connection, and log it once, as a warning: nothing failed
    but capacity, and a traceback per refused request would drown the log when it happens."""
    POOL_EXHAUSTED.labels(where).inc()
    log.warning("database pool exhausted: %s refused, to be sent again", what)


def pool_exhausted_response(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: the API's JSON shape under ``/api/`` (and ``/ws/``), a short
    French page elsewhere. Rendered without the request: the page's menu would ask the
    database for the member."""
    pool_exhausted_note("http", f"{request.method} {request.path}")
    response: HttpResponse
    if request.path.startswith(JSON_ERROR_PREFIXES):
        response = JsonResponse({"error": "saturated", "detail": str(POOL_EXHAUSTED_DETAIL)}, status=503,
                                json_dumps_params={"ensure_ascii": False})
    else:
        retry = POOL_RETRY_AFTER_SECONDS if request.method in ("GET", "HEAD") else None
        response = HttpResponse(render_to_string("503.html", {"retry": retry}), status=503)
    response["Retry-After"] = str(POOL_RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    # Logged above, once: not again by django.request as a server error with its traceback.
    response._has_been_logged = True  # type: ignore[attr-defined]  # read by django.utils.log.log_response
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: what a middleware or a plain view raised. The pool exhausted is a 503
    (:func:`pool_exhausted_response`); anything else is Django's own 500."""
    if pool_exhausted(sys.exc_info()[1]):
        return pool_exhausted_response(request)
    return defaults.server_error(request)


def api_exception_handler(exc: Exception, context: dict) -> Response | HttpResponse | None:
    if pool_exhausted(exc) and context.get("request") is not None:
        return pool_exhausted_response(context["request"]._request)
    if _is_transient_db_error(exc):
        return Response({"error": "busy",
                         "detail": gettext("The hub is busy: nothing was written; send it again.")},
                        status=503, headers={"Retry-After": "1"})
    if isinstance(exc, DomainError):
        return Response({"error": exc.code, "detail": exc.as_detail()}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response({"error": "invalid", "detail": detail}, status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(
            _("Not found: it does not exist, or is no longer shared with your service."))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for klass, c in _CODES.items() if isinstance(exc, klass)), "error")
    detail = response.data.get("detail", response.data) if isinstance(response.data, dict) \
        and set(response.data) == {"detail"} else response.data
    response.data = {"error": code, "detail": detail}
    return response


# What an error answer that no view wrote says, by status: the code, and a French detail.
STATUS_ERRORS: dict[int, tuple[str, Any]] = {
    400: ("bad_request", _("The request is malformed.")),
    401: ("not_authenticated", _("Authentication credentials were not provided.")),
    403: ("forbidden", _("You do not have permission to perform this action.")),
    404: ("not_found", _("Nothing at this address.")),
    405: ("method_not_allowed", _("This method is not allowed at this address.")),
    406: ("not_acceptable", _("No answer in a format the request accepts.")),
    413: ("too_large", _("The request body is too large.")),
    415: ("unsupported_media_type", _("Unsupported body type.")),
    416: ("range_not_satisfiable", _("The range asked starts past the end of the file.")),
    429: ("throttled", _("Too many attempts: try again later.")),
    500: ("server_error", _("Internal error of the hub: it has been logged.")),
    503: ("unavailable", _("The hub is unavailable for a moment: try again.")),
}


def error_body(status_code: int) -> dict[str, str]:
    code, detail = STATUS_ERRORS.get(
        status_code, ("server_error", STATUS_ERRORS[500][1]) if status_code >= 500
        else ("bad_request", STATUS_ERRORS[400][1]))
    return {"error": code, "detail": str(detail)}


def _is_json(response: HttpResponse) -> bool:
    content_type = (response.get("Content-Type") or "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


class ApiErrorMiddleware:
    """Under ``/api/`` and ``/ws/``: a NUL character anywhere in the query string is a 400
    naming the parameter before any view runs (no text column can store it, and a filter
    would reach PostgreSQL with it), and every 4xx/5xx answer that is not JSON already (an
    unrouted address, a 405 from a plain view, Django's own 400 for a refused body, a crash)
    becomes ``{"error", "detail"}`` with the same status and headers (``Allow``,
    ``Retry-After``, ``Content-Range``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(JSON_ERROR_PREFIXES):
            return self.get_response(request)
        refusal = self._too_large(request) or self._nul_in_query(request)
        response = refusal if refusal is not None else self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            response = self._as_json(response)
        return response

    @staticmethod
    def _too_large(request: HttpRequest) -> HttpResponse | None:
        """The declared length past the address's limit (config.limits enforces it first
        under ASGI, on the bytes received as well)."""
        from config.limits import body_limit, too_large_body

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        limit = body_limit(request.path)
        return JsonResponse(too_large_body(limit), status=413) if length > limit else None

    @staticmethod
    def _nul_in_query(request: HttpRequest) -> HttpResponse | None:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "") or "query"
                return JsonResponse({"error": "invalid", "detail": {
                    field: [gettext("This value contains a NUL character.")]}}, status=400)
        return None

    @staticmethod
    def _as_json(response: HttpResponse) -> HttpResponse:
        answer = HttpResponse(json.dumps(error_body(response.status_code), ensure_ascii=False),
                              status=response.status_code, content_type="application/json")
        for header in ("Allow", "Retry-After", "WWW-Authenticate", "Vary", "Content-Range"):
            if header in response:
                answer[header] = response[header]
        # The answer replacing it takes over what it holds open (a file, a stream), closed when
        # the server closes the answer. Not ``response.close()`` here: that sends
        # ``request_finished`` in the middle of the request, which closes the database
        # connection under the rest of it.
        closers = getattr(response, "_resource_closers", None)
        if closers:
            answer._resource_closers.extend(closers)  # type: ignore[attr-defined]  # Django's own list
            closers.clear()
        return answer
