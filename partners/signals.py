"""Signals other apps listen to (partners imports none of them: docs/architecture.md)."""

from django.dispatch import Signal

# Sent after commit when a signed-in session ends (logout, ended by its owner,
# expired): kwargs ``user_id`` and ``session_key``. The event stream closes the
# sockets opened with that session.
session_ended = Signal()

# Sent after commit when an API token is revoked: kwargs ``user_id`` and ``token_id``. The
# event stream closes the sockets opened with that token.
token_revoked = Signal()
