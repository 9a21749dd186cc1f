"""Celery tasks of the recordings app (thin wrappers around services).

Their names keep the ``streaming.`` prefix they had before the recordings had their own app: the
beat's schedule names them, and a message queued before an upgrade must still find its task.
"""

from celery import shared_task


@shared_task(name="streaming.retention_sweep", acks_late=True)
def retention_sweep() -> dict[str, int]:
    """Destroys recordings past their retention, unless held (docs/recordings.md)."""
    from recordings.retention import retention_sweep as sweep

    result = sweep()
    return {"destroyed": result.destroyed, "size": result.size, "strays": result.strays}


@shared_task(name="streaming.requisition_extract", acks_late=True)
def requisition_extract(requisition_id: int) -> str | None:
    """Extracts a requisition's window into a signed export (re-runnable after a killed worker)."""
    from recordings.requisitions import requisition_extract as extract

    path = extract(requisition_id=requisition_id)
    return str(path) if path else None
