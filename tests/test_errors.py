"""The API's error shape for faults that lose nothing: a deadlock is a retryable 503, in JSON."""

from django.db import OperationalError
from psycopg import errors

from config.errors import api_exception_handler


def db_error(cause: Exception) -> OperationalError:
    try:
        raise OperationalError("deadlock detected") from cause
    except OperationalError as exc:
        return exc


def test_a_deadlock_is_answered_503_retry_in_json():
    response = api_exception_handler(db_error(errors.DeadlockDetected("deadlock detected")), {})
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.data["error"] == "busy"


def test_other_database_errors_are_not_disguised():
    assert api_exception_handler(db_error(errors.UndefinedTable("no table")), {}) is None
