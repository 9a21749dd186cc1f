"""Celery tasks of the streaming app (thin wrappers around services); the recordings' are in
``recordings.tasks``."""

from celery import shared_task


@shared_task(name="streaming.grants_end_sweep")
def grants_end_sweep() -> int:
    """Records and announces the grants that ended by themselves (expired, incident closed or
    no longer shared): the partners' pages say why their feed stopped."""
    from streaming.services import grants_end_sweep as sweep

    return sweep()


@shared_task(name="streaming.nodes_check")
def nodes_check() -> dict[str, list[str]]:
    """Declares lost the recorder nodes that stopped renewing and raises the alarm for the cameras
    no live node records (``camera.unrecorded``), even when every node is down."""
    from streaming.nodes import nodes_check as check

    return check()
