"""Which past events of the recordings app a member may still see: the replay rules of the event
stream (``realtime.visibility``)."""

from __future__ import annotations

from realtime.visibility import centre_only, register_replay_rule


def register() -> None:
    # Judicial extractions: the centre's business alone.
    register_replay_rule(["requisition.progress"], centre_only)
    # The object store's alarm: the centre's operations alone.
    register_replay_rule(["storage.unavailable", "storage.available"], centre_only)
