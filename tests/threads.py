"""Run the same work in several threads at once, each with its own database connection (as
several processes would), for the tests that check two sweeps or two nodes never collide."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(work: Callable[[], T], count: int = 2,
            timeout: float = 60) -> tuple[list[T], list[BaseException]]:
    """``work`` run by ``count`` threads started together; what they returned, and what they raised."""
    results: list[T] = []
    errors: list[BaseException] = []

    def main() -> None:
        try:
            results.append(work())
        except Exception as exc:  # noqa: BLE001 - given back to the test, which asserts there is none
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=main) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results, errors
