"""Re-scope open sockets when an account or its rights change.

Not domain events (those are published by services): this is the control plane
of the socket layer. It listens to the models of ``partners`` because partners
must not know realtime (docs/architecture.md), and it catches every path that changes
rights, the admin included.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from partners.models import Member
from partners.signals import session_ended, token_revoked
from realtime.audiences import user_group
from realtime.transport import group_send_many

log = logging.getLogger(__name__)


def sockets_rescope(user_id: int, *, close: bool = False) -> None:
    """Tell the user's open sockets, after commit, to re-read their rights (or to close)."""

    def send() -> None:
        try:
            group_send_many([(user_group(user_id),
                              {"type": "hub.control", "action": "close" if close else "rescope"})])
        except Exception:
            log.exception("could not re-scope the sockets of user %s", user_id)

    transaction.on_commit(send)


def _session_ended(sender, user_id: int, session_key: str, **kwargs) -> None:
    try:
        group_send_many([(user_group(user_id), {"type": "hub.control", "action": "close_session",
                                                "session_key": session_key})])
    except Exception:
        log.exception("could not close the sockets of an ended session of user %s", user_id)


def _token_revoked(sender, user_id: int, token_id: int, **kwargs) -> None:
    try:
        group_send_many([(user_group(user_id), {"type": "hub.control", "action": "close_token",
                                                "token_id": token_id})])
    except Exception:
        log.exception("could not close the sockets of a revoked token of user %s", user_id)


def _user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login", "password"}):
        return
    sockets_rescope(instance.pk, close=not instance.is_active)


def _member_changed(sender, instance: Member, **kwargs) -> None:
    sockets_rescope(instance.user_id)


def connect() -> None:
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="realtime-user-saved")
    post_save.connect(_member_changed, sender=Member, dispatch_uid="realtime-member-saved")
    post_delete.connect(_member_changed, sender=Member, dispatch_uid="realtime-member-deleted")
    session_ended.connect(_session_ended, dispatch_uid="realtime-session-ended")
    token_revoked.connect(_token_revoked, dispatch_uid="realtime-token-revoked")
