"""One place that turns errors into the API's JSON shape ``{"error": code, "detail": ...}``.

Domain errors are exceptions of the apps (subclasses of :class:`DomainError`);
views never build error answers themselves.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """A rule of the domain refused the request; nothing was written."""

    code = "invalid"
    status_code = status.HTTP_400_BAD_REQUEST

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


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if _is_transient_db_error(exc):
        return Response({"error": "busy",
                         "detail": _("The hub is busy: nothing was written; send it again.")},
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
