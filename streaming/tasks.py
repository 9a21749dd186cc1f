"""Celery tasks of the streaming app (thin wrappers around services)."""

from celery import shared_task


@shared_task(name="streaming.retention_sweep", acks_late=True)
def retention_sweep() -> dict[str, int]:
    """Destroys recordings past their retention, unless held (docs/recordings.md)."""
    from streaming.retention import retention_sweep as sweep

    result = sweep()
    return {"destroyed": result.destroyed, "size": result.size}


@shared_task(name="streaming.requisition_extract", acks_late=True)
def requisition_extract(requisition_id: int) -> str | None:
    """Extracts a requisition's window into a signed export (re-runnable after a killed worker)."""
    from streaming.export import requisition_extract as extract

    path = extract(requisition_id=requisition_id)
    return str(path) if path else None


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
