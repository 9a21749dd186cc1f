"""Celery tasks of the partners app (thin wrappers around services)."""

from celery import shared_task


@shared_task(name="partners.anchor_audit", acks_late=True)
def anchor_audit() -> dict[str, object]:
    """Anchors the access journal if it moved (or the heartbeat is due); a journal that no
    longer holds what the last anchor signed raises the alarm and is not anchored."""
    from partners.anchor import AnchorRefused, audit_anchor

    try:
        result = audit_anchor(force=False)
    except AnchorRefused as exc:
        return {"refused": str(exc)}
    return {"seq": result.anchor.seq if result.anchor else None, "written": result.written,
            "syslog": result.syslog}
