"""The database pool exhausted, for real: a pool of one connection, held by the test, so that
whoever asks for another waits the pool's timeout and gets psycopg_pool's ``PoolTimeout``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections

# Long enough that the pool really waits, short enough to keep the tests quick.
WAIT_SECONDS = 0.3


def exhaust() -> tuple[object, dict | bool | None]:
    """Replace the pool by one of a single connection and take it; returns what ``restore``
    needs. The calling thread's own connection goes back first (a transactional test only)."""
    connection = connections["default"]
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("pool")
    connection.close()
    connection.close_pool()
    options["pool"] = {"min_size": 0, "max_size": 1, "timeout": WAIT_SECONDS}
    connection.pool.open()
    return connection.pool.getconn(), saved


def restore(state: tuple[object, dict | bool | None]) -> None:
    held, saved = state
    connection = connections["default"]
    connection.pool.putconn(held)
    connection.close()
    connection.close_pool()
    connection.settings_dict["OPTIONS"]["pool"] = saved


@contextlib.contextmanager
def exhausted_pool() -> Iterator[None]:
    state = exhaust()
    try:
        yield
    finally:
        restore(state)
