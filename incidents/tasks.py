"""Periodic tasks of the incidents app (thin wrappers around services)."""

from celery import shared_task

from incidents.services import alerts, radio


@shared_task(name="incidents.radio_follow_up")
def radio_follow_up() -> dict[str, int]:
    """Re-sends, then escalates, urgent and flash messages nobody acknowledged in time."""
    return radio.radio_follow_up()


@shared_task(name="incidents.alert_follow_up")
def alert_follow_up() -> dict[str, int]:
    """Re-sends, then escalates, Croix-Rouge alerts nobody acknowledged in time."""
    return alerts.alert_follow_up()
