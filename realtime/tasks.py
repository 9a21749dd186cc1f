"""Periodic tasks of the event bus (thin wrappers around services)."""

from celery import shared_task

from realtime import services


@shared_task(name="realtime.relay")
def relay() -> int:
    """Sends what a failed after-commit relay left behind (Redis restarted, a process died)."""
    return services.relay()


@shared_task(name="realtime.prune_outbox")
def prune_outbox() -> int:
    return services.outbox_prune()
