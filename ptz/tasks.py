from __future__ import annotations

from celery import shared_task


@shared_task(name="ptz.leases_sweep", ignore_result=True)
def leases_sweep() -> dict:
    """Lapsed leases end; cameras nobody took again go home (``ptz.services.leases_sweep``)."""
    from ptz.services import leases_sweep as sweep

    return sweep()
